# Benchmarks (see docs/benchmarks.md, scripts/hostlab.sh, scripts/lab.sh, bench/hostlab, bench/lab).
#   make bench          host lab, quick mode: install peers, start 2 regions of 4 SSH hosts, run
#                       skyplane -n 1/2/4 and the peers side by side, stop the lab
#   make bench-full     the same at full size
#   make bench-wan      the single-machine WAN lab (scripts/lab.sh), quick; bench-wan-full at full size
#   make bench-smoke    tiny data, one run, every tool, on both labs (CI keeps them from rotting)
#   make bench-local    local-disk copy vs cp -r, and the frame pipeline (./bench/)
# Link and workload knobs pass through the environment: LAB_RTT_MS, LAB_FLOW_MBPS,
# LAB_GATEWAY_MBPS, LAB_RUNS, LAB_TOOLS, LAB_WORKLOADS, LAB_LARGE_MB, LAB_TEXT_MB,
# LAB_SMALL_OBJECTS, LAB_LIST_KEYS, LAB_EGRESS_USD_PER_GB.
SHELL := /bin/bash

.PHONY: bench bench-full bench-wan bench-wan-full bench-smoke bench-local lab-install

bench:
	@$(MAKE) --no-print-directory hostlab-run LAB_MODE=quick

bench-full:
	@$(MAKE) --no-print-directory hostlab-run LAB_MODE=full

bench-wan:
	@$(MAKE) --no-print-directory lab-run LAB_MODE=quick

bench-wan-full:
	@$(MAKE) --no-print-directory lab-run LAB_MODE=full

bench-smoke:
	@$(MAKE) --no-print-directory lab-run LAB_MODE=quick LAB_WORKLOADS=$${LAB_WORKLOADS:-large} LAB_LARGE_MB=$${LAB_LARGE_MB:-64} LAB_RUNS=$${LAB_RUNS:-1} LAB_RESULTS=$${LAB_RESULTS:-$$(mktemp -d)}
	@$(MAKE) --no-print-directory hostlab-run LAB_MODE=smoke LAB_RESULTS=$${LAB_RESULTS:-$$(mktemp -d)}

bench-local:
	go test -run xxx -bench . -benchtime 3x ./bench/

lab-install:
	scripts/lab.sh install

# The lab is stopped whatever happens; the recipe keeps the run's exit status.
.PHONY: lab-run
lab-run: lab-install
	@status=0; \
	scripts/lab.sh start && \
	( . .tools/lab.env && LAB_MODE=$(LAB_MODE) go test -run xxx -bench WAN -benchtime 1x -timeout 3h -v ./bench/lab/ ) || status=$$?; \
	scripts/lab.sh stop; \
	exit $$status

# The host lab: 2 regions of LAB_HOSTS_PER_REGION (default 4) hosts, so
# that -n 4 has a host per gateway; stopped whatever happens.
.PHONY: hostlab-run
hostlab-run: lab-install
	@status=0; \
	LAB_HOSTS_PER_REGION=$${LAB_HOSTS_PER_REGION:-4} scripts/hostlab.sh start && \
	( LAB_MODE=$(LAB_MODE) go test -run xxx -bench Hosts -benchtime 1x -timeout 2h -v ./bench/hostlab/ ) || status=$$?; \
	scripts/hostlab.sh stop; \
	exit $$status
