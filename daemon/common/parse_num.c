/*
 * parse_num.c - strict unsigned numbers (parse_num.h). strtoul accepts a
 * sign (and wraps "-4" to 2^64-4), leading spaces and trailing junk, and
 * callers used to cast its result to 32 bits: every one of those is refused
 * here, with a reason that names the input.
 */
#include <errno.h>
#include <stdio.h>

#include "parse_num.h"

static int digit_value(char c, unsigned base)
{
	if (c < '0' || c > '9')
		return -1;
	int d = c - '0';
	return (unsigned)d < base ? d : -1;
}

static void range_text(char *buf, size_t len, unsigned base, uint64_t lo, uint64_t hi)
{
	if (base == 8)
		snprintf(buf, len, "an octal number from %llo to %llo", (unsigned long long)lo, (unsigned long long)hi);
	else
		snprintf(buf, len, "a whole number from %llu to %llu", (unsigned long long)lo, (unsigned long long)hi);
}

int parse_u64(const char *s, unsigned base, uint64_t lo, uint64_t hi, uint64_t *out, char *why, size_t whylen)
{
	char range[96];
	range_text(range, sizeof(range), base, lo, hi);
	if (!s || !*s) {
		if (why)
			snprintf(why, whylen, "empty value; expected %s", range);
		return -EINVAL;
	}
	if (*s == '-' || *s == '+') {
		if (why)
			snprintf(why, whylen, "\"%.64s\" has a sign; expected %s", s, range);
		return -EINVAL;
	}
	uint64_t v = 0;
	size_t i = 0;
	int over = 0;
	for (; s[i]; i++) {
		int d = digit_value(s[i], base);
		if (d < 0)
			break;
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			over = 1; /* keep scanning: junk after the digits is still the clearer error */
		else
			v = v * base + (uint64_t)d;
	}
	if (i == 0 || s[i]) {
		if (why) {
			if (i == 0)
				snprintf(why, whylen, "\"%.64s\" is not a number; expected %s", s, range);
			else
				snprintf(why, whylen, "\"%.64s\" is not a number (trailing \"%.32s\"); expected %s", s, s + i,
					 range);
		}
		return -EINVAL;
	}
	if (over || v < lo || v > hi) {
		if (why)
			snprintf(why, whylen, "%.64s is out of range; expected %s", s, range);
		return -ERANGE;
	}
	*out = v;
	return 0;
}

int parse_u32(const char *s, unsigned base, uint32_t lo, uint32_t hi, uint32_t *out, char *why, size_t whylen)
{
	uint64_t v;
	int r = parse_u64(s, base, lo, hi, &v, why, whylen);
	if (r == 0)
		*out = (uint32_t)v; /* hi <= UINT32_MAX, so v fits */
	return r;
}
