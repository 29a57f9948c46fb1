package trace

// The BPF object is generated and committed, so that a plain go build
// needs no clang. Regenerate with clang and libbpf-dev installed (apt).
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target amd64 -cflags "-O2 -g -Wall -I/usr/include/x86_64-linux-gnu" bpf bpf/trace.bpf.c
