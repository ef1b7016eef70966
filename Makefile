# Benchmarks (see docs/benchmarks.md, scripts/lab.sh and bench/lab).
#   make bench          WAN lab, quick mode (~6 min): install peers, start the lab, run every
#                       workload with every tool side by side, stop the lab
#   make bench-full     the same at full size (1 GiB, 256 MiB of text, 10,000 objects, 1,000,000 keys)
#   make bench-smoke    tiny data, one workload, all tools, one run (CI keeps the lab from rotting)
#   make bench-local    local-disk copy vs cp -r, and the frame pipeline (./bench/)
# Link and workload knobs pass through the environment: LAB_RTT_MS, LAB_FLOW_MBPS,
# LAB_GATEWAY_MBPS, LAB_RUNS, LAB_TOOLS, LAB_WORKLOADS, LAB_LARGE_MB, LAB_TEXT_MB,
# LAB_SMALL_OBJECTS, LAB_LIST_KEYS, LAB_EGRESS_USD_PER_GB.
SHELL := /bin/bash

.PHONY: bench bench-full bench-smoke bench-local lab-install

bench:
	@$(MAKE) --no-print-directory lab-run LAB_MODE=quick

bench-full:
	@$(MAKE) --no-print-directory lab-run LAB_MODE=full

bench-smoke:
	@$(MAKE) --no-print-directory lab-run LAB_MODE=quick LAB_WORKLOADS=$${LAB_WORKLOADS:-large} LAB_LARGE_MB=$${LAB_LARGE_MB:-64} LAB_RUNS=$${LAB_RUNS:-1} LAB_RESULTS=$${LAB_RESULTS:-$$(mktemp -d)}

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
