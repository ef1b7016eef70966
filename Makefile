# Benchmarks (see docs/benchmarks.md and scripts/lab.sh).
#   make bench-quick   WAN lab: install peers, start the lab, quick side-by-side run, stop the lab
#   make bench         the local benchmarks (./bench/) plus the WAN lab run
# Link and workload knobs pass through the environment: LAB_RTT_MS, LAB_FLOW_MBPS,
# LAB_OBJECTS, LAB_OBJECT_MB, LAB_RUNS, LAB_TOOLS.
SHELL := /bin/bash

.PHONY: bench bench-quick bench-local lab-install

bench: bench-local bench-quick

bench-local:
	go test -run xxx -bench . -benchtime 3x ./bench/

lab-install:
	scripts/lab.sh install

# The lab is stopped whatever happens; the recipe keeps the run's exit status.
bench-quick: lab-install
	@status=0; \
	scripts/lab.sh start && \
	( . .tools/lab.env && go test -run xxx -bench WAN -benchtime 1x -timeout 30m -v ./bench/lab/ ) || status=$$?; \
	scripts/lab.sh stop; \
	exit $$status
