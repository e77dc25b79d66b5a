# The README's two commands need no make; these are conveniences.
FUZZTIME ?= 30s

.PHONY: test ci fuzz bench

test:
	go test ./...

ci:
	bash .ci/run

# Fuzz each decoder of client input for FUZZTIME; what a run finds lands in
# resources/testdata/fuzz and becomes part of the seed corpus that
# go test runs every time.
fuzz:
	for target in FuzzParseObject FuzzNegotiate FuzzPageParams FuzzAuthorization; do \
		go test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) ./resources || exit 1; \
	done

bench:
	go test -run '^$$' -bench . -benchtime 2s -count 5 ./resources
