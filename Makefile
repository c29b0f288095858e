# replog: one master, any number of secondaries. See README.md.
GO      ?= go
PKGS    := ./master/... ./secondary/... ./shared/...
BIN     := bin

.PHONY: build test vet tidy run clean

build:
	cd master && CGO_ENABLED=0 $(GO) build -trimpath -o ../$(BIN)/master .
	cd secondary && CGO_ENABLED=0 $(GO) build -trimpath -o ../$(BIN)/secondary .

test:
	$(GO) test -race -count=1 $(PKGS)

vet:
	gofmt -l master secondary shared | (! grep .) || (echo "gofmt needed on the files above"; exit 1)
	$(GO) vet $(PKGS)

tidy:
	cd shared && $(GO) mod tidy
	cd master && $(GO) mod tidy
	cd secondary && $(GO) mod tidy
	$(GO) work sync

# A master on :8080 and secondaries on :8081 and :8082, in the foreground.
run: build
	deploy/run-local.sh

clean:
	rm -rf $(BIN)
