package trace

import (
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"debug/gosym"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/customs-dev/customs/capabilities"
)

// Profile is what a traced process tree did, per executable and module.
type Profile struct {
	Command     []string      `json:"command"`
	Started     time.Time     `json:"started"`
	Ended       time.Time     `json:"ended"`
	ExitCode    int           `json:"exit_code"`
	Executables []*Executable `json:"executables"`
	// Charges are per (executable, module, capability).
	Charges []*Charge `json:"charges"`
	// Dropped counts events the kernel could not hand over (ring buffer
	// full): the profile misses them.
	Dropped uint64 `json:"dropped_events"`
	// Violations are the events a declaration did not allow, as they
	// happened, with what was done about them.
	Violations []Violation `json:"violations,omitempty"`
	// Flags are execs of shells, network and attack tools and miners:
	// flagged even where EXEC is granted, since running nc, curl or a
	// shell is what an intruder does next (a reverse shell, a download).
	Flags []Flag `json:"flags,omitempty"`
}

// Flag is an exec of a program that an intruder would run.
type Flag struct {
	Time       time.Time `json:"time"`
	PID        uint32    `json:"pid"`
	Executable string    `json:"executable"`
	Module     string    `json:"module"`
	// Rule is the posture rule the program falls under: attack-tool,
	// miner or shell.
	Rule    string `json:"rule"`
	Program string `json:"program"`
	Example string `json:"example"`
}

// Event is one recorded system call, as --events writes it.
type Event struct {
	Time       time.Time               `json:"time"`
	PID        uint32                  `json:"pid"`
	TID        uint32                  `json:"tid"`
	Executable string                  `json:"executable"`
	Syscall    int64                   `json:"syscall"`
	Module     string                  `json:"module"`
	Capability capabilities.Capability `json:"capability"`
	Args       string                  `json:"args,omitempty"`
}

// Violation is an event the declaration did not allow.
type Violation struct {
	Time       time.Time               `json:"time"`
	PID        uint32                  `json:"pid"`
	Executable string                  `json:"executable"`
	Module     string                  `json:"module"`
	Capability capabilities.Capability `json:"capability"`
	Example    string                  `json:"example,omitempty"`
	Stack      []string                `json:"stack,omitempty"`
	// Action is what was done: logged, stopped or killed.
	Action string `json:"action"`
}

// Executable is a program that ran in the traced tree.
type Executable struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256,omitempty"`
	// Go executables: their build ID, main module and modules.
	GoBuildID  string   `json:"go_build_id,omitempty"`
	MainModule string   `json:"main_module,omitempty"`
	Modules    []string `json:"modules,omitempty"`
	// Syscalls are the system call numbers (x86_64) it made.
	Syscalls []int `json:"syscalls"`
}

// Charge is what one module of one executable did of one capability.
type Charge struct {
	Executable string                  `json:"executable"`
	Module     string                  `json:"module"`
	Capability capabilities.Capability `json:"capability"`
	Count      int                     `json:"count"`
	First      time.Time               `json:"first"`
	// Examples are the arguments of a few events: a path, an address, a
	// program with its arguments.
	Examples []string `json:"examples"`
	// Stack is one symbolized user stack, innermost first.
	Stack []string `json:"stack,omitempty"`
}

// syscallCapability is the capability a system call exercises when the
// stack does not say better (non-Go programs, or no standard-library
// frame that the classification knows).
var syscallCapability = map[int64]capabilities.Capability{
	59: capabilities.Exec, 322: capabilities.Exec,
	42: capabilities.NetworkConnect,
	49: capabilities.NetworkListen, 50: capabilities.NetworkListen, 43: capabilities.NetworkListen, 288: capabilities.NetworkListen,
	2: capabilities.FilesWrite, 257: capabilities.FilesWrite, 85: capabilities.FilesWrite, 87: capabilities.FilesWrite, 263: capabilities.FilesWrite,
	82: capabilities.FilesWrite, 264: capabilities.FilesWrite, 316: capabilities.FilesWrite,
	90: capabilities.FilesWrite, 91: capabilities.FilesWrite, 268: capabilities.FilesWrite, 92: capabilities.FilesWrite, 260: capabilities.FilesWrite,
	105: capabilities.ModifySystemState, 106: capabilities.ModifySystemState, 126: capabilities.ModifySystemState,
	165: capabilities.ModifySystemState, 175: capabilities.ModifySystemState, 313: capabilities.ModifySystemState,
	101: capabilities.OperatingSystem,
	321: capabilities.SystemCalls,
	319: capabilities.ArbitraryExecution, 9: capabilities.ArbitraryExecution, 10: capabilities.ArbitraryExecution,
}

// program is what is known of an executable to symbolize its stacks.
type program struct {
	exe     *Executable
	table   *gosym.Table
	modules []string // longest first
}

// loadProgram reads an executable: its hash and, for Go, its pclntab
// (present in stripped binaries too) and build info.
func loadProgram(path string) *program {
	p := &program{exe: &Executable{Path: path, Syscalls: []int{}}}
	f, err := os.Open(path)
	if err != nil {
		return p
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err == nil {
		p.exe.SHA256 = hex.EncodeToString(h.Sum(nil))
	}
	// One open file for the hash, the build info and the ELF sections.
	bi, err := buildinfo.Read(f)
	if err != nil {
		return p
	}
	p.exe.MainModule = bi.Main.Path
	p.modules = append(p.modules, bi.Main.Path)
	for _, d := range bi.Deps {
		p.exe.Modules = append(p.exe.Modules, d.Path+"@"+d.Version)
		p.modules = append(p.modules, d.Path)
	}
	sort.Slice(p.modules, func(i, j int) bool { return len(p.modules[i]) > len(p.modules[j]) })
	ef, err := elf.NewFile(f)
	if err != nil {
		return p
	}
	if id, err := goBuildID(ef); err == nil {
		p.exe.GoBuildID = id
	}
	pcln, text := ef.Section(".gopclntab"), ef.Section(".text")
	if pcln == nil || text == nil {
		return p
	}
	data, err := pcln.Data()
	if err != nil {
		return p
	}
	if t, err := gosym.NewTable(nil, gosym.NewLineTable(data, capabilities.TextStart(ef, text, data))); err == nil {
		p.table = t
	}
	return p
}

// goBuildID reads the Go build ID note.
func goBuildID(f *elf.File) (string, error) {
	s := f.Section(".note.go.buildid")
	if s == nil {
		return "", errors.New("no Go build ID")
	}
	b, err := s.Data()
	if err != nil || len(b) < 16 {
		return "", errors.New("no Go build ID")
	}
	// namesz, descsz, type, "Go\0\0", desc
	return strings.TrimRight(string(b[16:]), "\x00"), nil
}

// frame is a symbolized stack frame.
type frame struct {
	fn, file string
	line     int
}

func (p *program) symbolize(pcs []uint64) []frame {
	var out []frame
	for i, pc := range pcs {
		if pc == 0 {
			break
		}
		if p.table == nil {
			out = append(out, frame{fn: fmt.Sprintf("%#x", pc)})
			continue
		}
		// Return addresses point after the call.
		look := pc
		if i > 0 {
			look--
		}
		file, line, fn := p.table.PCToLine(look)
		if fn == nil {
			out = append(out, frame{fn: fmt.Sprintf("%#x", pc)})
			continue
		}
		out = append(out, frame{fn: fn.Name, file: file, line: line})
	}
	return out
}

// moduleOf is the module of a package, "" for the standard library.
func (p *program) moduleOf(pkg string) string {
	if pkg == "main" {
		return p.exe.MainModule
	}
	for _, m := range p.modules {
		if pkg == m || strings.HasPrefix(pkg, m+"/") {
			return m
		}
	}
	return ""
}

// attribute charges an event: the innermost non-standard module on the
// stack, and the capability of the standard-library function it called
// (the raw system call when that says nothing).
func (p *program) attribute(frames []frame, nr int64) (module string, c capabilities.Capability) {
	c = syscallCapability[nr]
	if p.exe.MainModule == "" {
		return "main", c
	}
	for i := 1; i < len(frames); i++ {
		mod := p.moduleOf(capabilities.SymbolPackage(frames[i].fn))
		if mod == "" {
			continue
		}
		// frames[i-1] is what the module's code called.
		if inner := frames[i-1]; p.moduleOf(capabilities.SymbolPackage(inner.fn)) == "" {
			if cc, ok := capabilities.ClassifySymbol(inner.fn); ok && relevant(cc, c) {
				c = cc
			}
		}
		if mod == p.exe.MainModule {
			return capabilities.MainSubject, c
		}
		return mod, c
	}
	return "runtime", c
}

// relevant keeps the classification of the boundary call when it is
// about the same kind of thing as the system call (os.WriteFile for an
// open, net.Dial for a connect), and the system call's otherwise.
func relevant(classified, syscall capabilities.Capability) bool {
	if syscall == "" {
		return true
	}
	top := func(c capabilities.Capability) capabilities.Capability {
		for c.Parent() != "" {
			c = c.Parent()
		}
		return c
	}
	return top(classified) == top(syscall)
}
