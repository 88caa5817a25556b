# Local services (Kafka 4.1.1 KRaft, ClickHouse 18.16, optional Apicurio schema registry) on 127.0.0.1.
# Meant to be included from the top-level Makefile:   include deploy/Makefile.services.mk
# All logic lives in deploy/services.sh; see deploy/README.md for ports, env vars and measurements.
#
#   make services                          Kafka 127.0.0.1:9092 + ClickHouse 127.0.0.1:9000 / :8123
#   SWITCHYARD_REGISTRY=1 make services    ... plus schema registry http://127.0.0.1:8081/apis/ccompat/v7
#   make services-down                    stop everything that runs (fine when nothing runs)
#   make services-status                   what runs; exits non-zero if a selected service is down
#   make services-clean                    stop, then delete the data under .services/
#
# Environment variables (KAFKA_PORT, CH_NATIVE_PORT, CH_HTTP_PORT, SERVICES_DIR, SERVICES, ...) are
# passed through to the script unchanged, both from the environment and from the make command line.

SERVICES_SH := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))/services.sh

.PHONY: services services-down services-status services-clean

services: ## Start Kafka :9092 + ClickHouse :9000/:8123 on loopback (SWITCHYARD_REGISTRY=1: + registry :8081)
	@bash $(SERVICES_SH) up

services-down: ## Stop the local services (fine when nothing runs)
	@bash $(SERVICES_SH) down

services-status: ## Show the local services (exit 1 if one is down)
	@bash $(SERVICES_SH) status

services-clean: ## Stop the local services and delete their data (.services/)
	@bash $(SERVICES_SH) clean
