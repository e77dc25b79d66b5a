# The README's two commands need no make; these are conveniences.
FUZZTIME ?= 30s

.PHONY: test ci fuzz bench soak

test:
	go test ./...

ci:
	bash .ci/run

# Fuzz each decoder of client input, and the hand-written JSON of links, for
# FUZZTIME each; what a run finds lands in the package's testdata/fuzz and
# becomes part of the seed corpus that go test runs every time.
fuzz:
	for target in FuzzParseObject FuzzNegotiate FuzzPageParams FuzzSearchParams FuzzAuthorization FuzzWriteHeaders FuzzPasswordReset; do \
		go test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) ./resources || exit 1; \
	done
	go test -run '^$$' -fuzz '^FuzzLinkJSON$$' -fuzztime $(FUZZTIME) ./hal

# The Go benchmarks (HAL rendering, the token check, requests through the
# router), then the load benchmark on a data set of USERS users: it
# installs wrk if missing, seeds once into .data-bench and prints the table
# that README.md quotes. USERS=1000000 seeds for about seven minutes.
USERS ?= 1000

bench:
	go test -run '^$$' -bench . -benchmem -count 5 ./hal ./persistence ./resources
	go run ./cmd/loadbench --users $(USERS)

# The soak: the load benchmark's scenarios, logins and live streams as one
# mixed load on USERS users for SOAK, a row of the server's figures a
# minute, failing when its RSS or goroutines grew (cmd/loadbench/README.md).
SOAK ?= 10m

soak:
	go run ./cmd/loadbench --users $(USERS) --soak $(SOAK)
