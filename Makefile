# profenrich: PGXS build, plus the quick-start targets (demo, test, bench), which install
# their own Debian packages and run on a throwaway cluster.

EXTENSION = profenrich
MODULE_big = profenrich
OBJS = src/profenrich.o src/options.o src/features.o src/moments.o src/linalg.o \
       src/glm.o src/logistic.o src/multinomial.o src/clv.o src/distributions.o src/metrics.o \
       src/algorithm.o src/model.o src/model_glm.o src/model_multinomial.o src/model_clv.o src/registry.o \
       src/source.o src/train.o src/train_linear.o src/train_logistic.o src/train_multinomial.o src/train_clv.o \
       src/step.o src/step_multinomial.o src/dataset.o src/rfm.o src/score.o src/outputs.o src/evaluate.o src/enrich.o \
       src/lazylib.o src/privileges.o \
       src/sketch.o src/discovery.o src/profile.o src/report.o \
       src/als.o src/interactions.o src/items.o src/user_rows.o src/model_als.o \
       src/model_affinity.o src/train_affinity.o \
       src/gbdt.o src/xgb.o src/model_gbdt.o src/train_gbdt.o \
       src/baseline.o src/curves.o src/drift.o src/monitor.o \
       src/kmeans.o src/model_kmeans.o src/train_kmeans.o
DATA = $(wildcard sql/profenrich--*.sql)

# Regression tests: sql/<name>.sql against expected/<name>.out
REGRESS = setup linear registry features score errors parallel logistic enrich enrich_targets privileges search_path clv hardening lazy_numerics discovery affinity gbdt kmeans formats validation multinomial classes monitor upgrade
REGRESS_OPTS = --inputdir=.

PG_CFLAGS = -O3 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
            -Wno-missing-field-initializers -Wno-cast-function-type
# OpenBLAS and libmvec are not linked: linalg.c and clv.c open them on first use
# (lazylib.c), so that a backend that never trains never maps them. -Bsymbolic-functions
# binds the module's calls to its own functions at link time, which spares the dynamic
# loader about 130 symbol lookups each time a new backend loads the module.
SHLIB_LINK = -lm -Wl,-Bsymbolic-functions

PROFENRICH_PGBIN ?= /usr/lib/postgresql/15/bin
PG_CONFIG ?= $(shell test -x $(PROFENRICH_PGBIN)/pg_config && echo $(PROFENRICH_PGBIN)/pg_config || echo pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
else
all:
	@echo "PostgreSQL server headers not found; run 'make deps' (or 'make test') first" >&2; exit 1
endif

# Every object depends on the headers (PGXS tracks no header dependencies by itself)
$(OBJS): $(wildcard src/*.h)

.PHONY: deps demo test bench build-install

deps:
	scripts/deps.sh

# Build and install as a separate make run, so PGXS is loaded after deps installed it.
build-install: deps
	$(MAKE) -s all
	$(MAKE) -s install >/dev/null

demo: build-install
	scripts/with-cluster.sh scripts/demo.sh

test: build-install
	scripts/with-cluster.sh scripts/run-tests.sh

bench: build-install
	scripts/with-cluster.sh --bench scripts/run-bench.sh
