# vault-plugin-github-app
#   make dev        run the engine for real: Vault dev server + plugin + GitHub API double
#   make test-all   every test: vet, gofmt, unit tests (-race), acceptance tests on a real Vault

VERSION ?= v0.1.0
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG     := github.com/ambient-code/vault-plugin-github-app
LDFLAGS := -s -w -X $(PKG)/plugin.Version=$(VERSION) -X $(PKG)/plugin.Commit=$(COMMIT) -X $(PKG)/plugin.Date=$(DATE)
GO      ?= go

.PHONY: build deps test testacc test-all fmt fmt-check vet dev dev-stop vault bench fuzz release clean soak testcompat

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/vault-plugin-github-app ./cmd/vault-plugin-github-app
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/github-token-proxy ./cmd/github-token-proxy

# What the tests need besides Go (git, gh, curl, shellcheck, PyYAML, Python
# requests, Node.js 20.18.1+; the table is in scripts/deps.sh): installed
# with apt-get when this user can (Node.js never: not Debian's), else one
# message naming every missing tool and how to install it.
deps:
	@bash scripts/deps.sh

test: deps
	$(GO) test -race -count=1 ./...

testacc: deps vault
	$(GO) test -tags acceptance -race -count=1 -timeout 40m ./test/acceptance/...

# deps first, before anything is built, even under make -j.
test-all: deps
	@$(MAKE) --no-print-directory vet fmt-check test testacc

fmt:
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags acceptance ./test/acceptance/...

# Builds (or reuses) the pinned Vault binary in the cache outside the repo.
vault:
	@bash scripts/build-vault.sh >/dev/null

dev:
	bash scripts/dev.sh

dev-stop:
	bash scripts/dev-stop.sh

# The core acceptance tests against each Vault in VAULT_VERSIONS (default:
# the README's supported list), each built into the cache first if missing
# (2-47 minutes each here); not part of test-all.
testcompat:
	bash scripts/testcompat.sh $(VAULT_VERSIONS)

# In-process benchmarks and load runs through a real Vault; writes docs/benchmarks.md.
bench: vault
	bash scripts/bench.sh

# The continuity soak for SOAK_DURATION (default 10m); writes docs/continuity.md.
soak: vault
	bash scripts/soak.sh

# Each fuzz target for FUZZTIME (default 30s).
fuzz:
	bash scripts/fuzz.sh

release:
	bash scripts/release.sh $(VERSION)

clean:
	rm -rf bin dist .dev
