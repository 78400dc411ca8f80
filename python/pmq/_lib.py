"""Loading libpmq.so.1 through cffi's ABI mode (no compiler, no build step).

The declarations below are copied by hand from include/pmq.h (and, for the
supervision calls, include/pmq_admin.h); cffi lays the structs out by the C
rules, so they must list every field in order. Two guards keep them honest:
pmq_config_init()/pmq_open_opts_init() store the C sizeof in .size (checked
at load time), and tests/python/test_layout.py compares every struct's size
and field offsets with a C program built from the real header.

Where the library is found, first hit wins:
  1. $PMQ_LIBRARY: a path to libpmq.so.1 (tests and odd installs);
  2. a build tree: this package run from a pmq checkout (python/pmq/), with
     $PMQ_BUILD_DIR or <checkout>/build holding src/libpmq.so.1;
  3. the system loader: "libpmq.so.1" (ld.so.cache, LD_LIBRARY_PATH).
"""
import os

from cffi import FFI

CDEF = """
typedef struct pmq pmq_t;

struct pmq_config {
    uint32_t size; uint32_t flags; uint32_t slot_count; uint32_t max_payload;
    uint32_t max_attach; uint32_t consumer_quota; uint32_t max_deliveries;
    uint32_t dlq_capacity; uint32_t side_slots; uint32_t durability;
    uint64_t lease_ns; uint32_t lease_action; uint32_t mode; const char *dir;
    uint32_t max_groups; uint32_t reserved_cfg; const char *groups;
};
void pmq_config_init_sized(struct pmq_config *cfg, size_t size);

struct pmq_open_opts {
    uint32_t size; uint32_t wait; uint32_t spin_ns; uint32_t owner_uid; const char *dir;
    const char *group;
};
void pmq_open_opts_init_sized(struct pmq_open_opts *o, size_t size);

int pmq_create(const char *name, const struct pmq_config *cfg, pmq_t **out);
int pmq_open_ex(const char *name, unsigned flags, const struct pmq_open_opts *o, pmq_t **out);
int pmq_close(pmq_t *q);
int pmq_unlink(const char *name, const char *dir);

int pmq_send(pmq_t *q, const void *buf, size_t len, unsigned flags);

struct pmq_msg {
    const void *data; uint32_t len; uint32_t delivery_count;
    uint64_t ticket; uint64_t epoch; uint64_t timestamp_ns; uint64_t cookie[2];
};
int pmq_recv(pmq_t *q, struct pmq_msg *msg, unsigned flags);
int pmq_recv_timeout(pmq_t *q, struct pmq_msg *msg, uint64_t timeout_ns);
int pmq_ack(pmq_t *q, const struct pmq_msg *msg);
int pmq_nack(pmq_t *q, const struct pmq_msg *msg, unsigned flags);

int pmq_dlq_replay(pmq_t *q, unsigned max);
int pmq_dlq_purge(pmq_t *q, unsigned max);

struct pmq_stats {
    uint64_t depth; uint64_t in_flight; uint64_t side_ready; uint64_t dead_letters;
    uint64_t sent; uint64_t received; uint64_t redelivered; uint64_t dead_lettered;
    uint64_t aborted; uint32_t attachments; uint32_t slot_count; uint32_t max_payload;
    uint32_t side_slots; uint32_t durability; uint32_t is_pmem;
};
int pmq_stats(pmq_t *q, struct pmq_stats *st);
int pmq_recover(pmq_t *q);
int pmq_get_config_sized(pmq_t *q, struct pmq_config *cfg, size_t size);

/* supervision: exported by libpmq.so.1, declared in pmq_admin.h */
struct pmq_attach_info {
    uint32_t index; uint32_t role; uint32_t incarnation; int32_t pid;
    uint64_t start_time; uint64_t heartbeat; uint32_t in_flight; uint32_t alive;
};
int pmq_attachments_ex(pmq_t *q, struct pmq_attach_info *out, unsigned n, unsigned flags);
int pmq_peek(pmq_t *q, uint64_t *pos, void *buf, size_t cap, struct pmq_msg *info, unsigned flags);

const char *pmq_strerror(int err);
const char *pmq_errmsg(void);
const char *pmq_version(void);
"""

# Flag values from pmq.h (the ABI: they never change within SONAME 1).
PRODUCER = 0x1
CONSUMER = 0x2
NONBLOCK_OPEN = 0x4
NONBLOCK = 0x1
REPLICATED = 0x2
NACK_REQUEUE = 0x0
NACK_DEADLETTER = 0x1
F_SP = 0x1
F_SC = 0x2
F_CRASH_NOT_DELIVERY = 0x4
ATTACH_NO_PROBE = 0x1
PEEK_DLQ = 0x1
NAME_MAX = 200

ffi = FFI()
ffi.cdef(CDEF)

SONAME = "libpmq.so.1"


def _checkout_candidates():
    """Build trees of the checkout this package sits in, if it does."""
    pkg = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.dirname(os.path.dirname(pkg))
    if not os.path.isfile(os.path.join(checkout, "include", "pmq.h")):
        return []
    dirs = [os.environ["PMQ_BUILD_DIR"]] if os.environ.get("PMQ_BUILD_DIR") else []
    dirs.append(os.path.join(checkout, "build"))
    return [os.path.join(d, "src", SONAME) for d in dirs]


def library_path():
    """The path or name handed to dlopen (see the module docstring)."""
    env = os.environ.get("PMQ_LIBRARY")
    if env:
        if not os.path.exists(env):
            raise ImportError(f"PMQ_LIBRARY={env!r} does not exist; point it at libpmq.so.1 or unset it")
        return env
    for cand in _checkout_candidates():
        if os.path.exists(cand):
            return cand
    return SONAME


def _load():
    path = library_path()
    try:
        lib = ffi.dlopen(path)
    except OSError as e:
        raise ImportError(
            f"pmq: cannot load {path} ({e}); install libpmq (cmake --install), "
            "or set PMQ_LIBRARY to the path of libpmq.so.1") from e
    # The library stores its own sizeof in .size: a mismatch means the
    # declarations above no longer match the header.
    try:
        inits = (("struct pmq_config", lib.pmq_config_init_sized),
                 ("struct pmq_open_opts", lib.pmq_open_opts_init_sized))
    except AttributeError as e:
        raise ImportError(f"pmq: {path} is older than libpmq 1.1 (no sized initialisers); "
                          "install a newer libpmq or an older binding") from e
    for struct, init in inits:
        probe = ffi.new(struct + " *")
        init(probe, ffi.sizeof(struct))
        if probe.size != ffi.sizeof(struct):
            raise ImportError(f"pmq: {struct} is {probe.size} bytes in {path} but {ffi.sizeof(struct)} "
                              "in the binding; this binding does not match the library")
    return lib, path


lib, loaded_from = _load()
