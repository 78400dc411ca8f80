# broker.sh - sourced by the shovel tests: a throwaway RabbitMQ node on 127.0.0.1.
# broker_start sets BROKER_PORT, BROKER_NODE, BROKER_DIR; broker_stop always cleans up.
RMQ_BIN=${RMQ_BIN:-/usr/lib/rabbitmq/bin}

free_port() { # a port nobody listens on now (the kernel's pick)
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

broker_env() {
	export HOME=$BROKER_DIR/home
	export RABBITMQ_NODENAME=$BROKER_NODE
	export RABBITMQ_MNESIA_BASE=$BROKER_DIR/mnesia
	export RABBITMQ_LOG_BASE=$BROKER_DIR/log
	export RABBITMQ_CONFIG_FILE=$BROKER_DIR/rabbitmq
	export RABBITMQ_ADVANCED_CONFIG_FILE=$BROKER_DIR/advanced.config
	export RABBITMQ_ENABLED_PLUGINS_FILE=$BROKER_DIR/enabled_plugins
	export RABBITMQ_PID_FILE=$BROKER_DIR/rabbit.pid
	export RABBITMQ_DIST_PORT=$BROKER_DIST_PORT
	export ERL_EPMD_PORT=$BROKER_EPMD_PORT
	export ERL_EPMD_ADDRESS=127.0.0.1
	export RABBITMQ_CONF_ENV_FILE=$BROKER_DIR/rabbitmq-env.conf
	# the node is NAME@localhost: Erlang resolves "localhost" itself, and a minimal root
	# (debootstrap minbase, some containers) has no /etc/hosts to resolve it from
	export ERL_INETRC=$BROKER_DIR/inetrc
}

# broker_start: 0 started, 77 cannot start (reason on stderr)
broker_start() {
	if [[ ! -x $RMQ_BIN/rabbitmq-server ]]; then
		echo "SKIP: rabbitmq-server not installed ($RMQ_BIN/rabbitmq-server): apt-get install rabbitmq-server (scripts/install-deps.sh full)" >&2
		return 77
	fi
	command -v epmd >/dev/null || { echo "SKIP: epmd (erlang-base) not found" >&2; return 77; }
	BROKER_DIR=$(mktemp -d /tmp/pmq-shovel-broker.XXXXXX)
	BROKER_NODE=pmqtest-$$@localhost
	BROKER_PORT=$(free_port)
	BROKER_DIST_PORT=$(free_port)
	BROKER_EPMD_PORT=$(free_port)
	mkdir -p "$BROKER_DIR/home" "$BROKER_DIR/mnesia" "$BROKER_DIR/log"
	: >"$BROKER_DIR/rabbitmq-env.conf"
	echo "[]." >"$BROKER_DIR/enabled_plugins"
	echo "[]." >"$BROKER_DIR/advanced.config"
	printf '{host, {127,0,0,1}, ["localhost"]}.\n{lookup, [file, native]}.\n' >"$BROKER_DIR/inetrc"
	printf 'pmqtestcookie%s' "$$" >"$BROKER_DIR/home/.erlang.cookie"
	chmod 400 "$BROKER_DIR/home/.erlang.cookie"
	cat >"$BROKER_DIR/rabbitmq.conf" <<-CONF
	listeners.tcp.1 = 127.0.0.1:$BROKER_PORT
	loopback_users = none
	default_user = pmqadmin
	default_pass = pmqadmin
	log.file.level = info
	log.console = false
	CONF
	(broker_env; epmd -address 127.0.0.1 -port "$BROKER_EPMD_PORT" -daemon)
	broker_boot || return $?
}

broker_boot() {
	(broker_env; exec "$RMQ_BIN/rabbitmq-server" >"$BROKER_DIR/log/stdout" 2>&1) &
	BROKER_PID=$!
	local t
	for ((t = 0; t < 600; t++)); do
		if (echo >/dev/tcp/127.0.0.1/$BROKER_PORT) 2>/dev/null; then
			(broker_env; "$RMQ_BIN/rabbitmqctl" -n "$BROKER_NODE" -q await_startup >/dev/null 2>&1) && return 0
		fi
		kill -0 "$BROKER_PID" 2>/dev/null || break
		sleep 0.2
	done
	echo "SKIP: rabbitmq-server did not start; its log: $BROKER_DIR/log" >&2
	tail -20 "$BROKER_DIR/log/stdout" >&2
	return 77
}

broker_ctl() { (broker_env; "$RMQ_BIN/rabbitmqctl" -n "$BROKER_NODE" -q "$@"); }

# broker_halt: stop the node (kill as the fallback), keep its data for broker_boot
broker_halt() {
	[[ -n ${BROKER_PID:-} ]] || return 0
	broker_ctl stop >/dev/null 2>&1 &
	local stopper=$! t
	for ((t = 0; t < 150; t++)); do
		kill -0 "$BROKER_PID" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$BROKER_PID" 2>/dev/null; then
		local c
		for c in $(pgrep -P "$BROKER_PID" 2>/dev/null); do kill -KILL "$c" 2>/dev/null; done
		kill -KILL "$BROKER_PID" 2>/dev/null
	fi
	wait "$BROKER_PID" 2>/dev/null
	kill "$stopper" 2>/dev/null; wait "$stopper" 2>/dev/null
	BROKER_PID=
}

broker_stop() {
	broker_halt
	[[ -n ${BROKER_DIR:-} ]] || return 0
	(broker_env; epmd -port "$BROKER_EPMD_PORT" -kill >/dev/null 2>&1)
	rm -rf "$BROKER_DIR"
	BROKER_DIR=
}
