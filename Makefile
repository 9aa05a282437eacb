# aishield.ops: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: demo test testbed venv unit lint sanity build integration bench-smoke own-stack molecule lanes bench teardown clean

## Command 1: set everything up, deploy the reference stack v1 on the local Docker host, print smoke results.
demo: testbed
	bash tests/testbed/check_ports.sh aishield-demo 8000 3000
	ansible-playbook playbooks/deploy.yml -i inventories/local

## Command 2: the whole test suite (unit, lint, sanity, build, integration, molecule), with stage times.
## tests/run.sh builds the test bed itself, running the static stages beside the image builds.
test:
	bash tests/run.sh

testbed:
	bash tests/testbed/setup.sh

venv:
	bash tests/testbed/setup.sh venv

unit lint sanity build integration bench-smoke own-stack molecule lanes:
	bash tests/run.sh $@

## Benchmarks (slow: about 2 h on 2 cores, 80 min of it the soak; want an idle machine): results/*.json, results.md, PNG plots.
bench: testbed
	python tests/bench/task_cost.py --tasks 20 --rounds 3
	python tests/bench/lb_bench.py --rounds 3 --cycles 3
	python tests/bench/deploy_bench.py --rounds 3
	python tests/bench/backup_bench.py --size-gb 1 --compress-levels 1
	python tests/bench/fleet_bench.py --hosts 1 2 4 --rounds 2
	python tests/bench/soak.py --cycles 100
	python tests/bench/report.py

teardown:
	bash tests/testbed/teardown.sh

clean: teardown
	rm -rf .venv .ansible tests/output *.tar.gz
