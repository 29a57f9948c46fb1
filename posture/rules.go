// Package posture checks how an image is built: the user it runs as, the
// files it carries (setuid executables, world-writable paths, shells,
// package managers, network and attack tools, cryptominers, files deleted
// by a later layer) and the secrets baked into its layers and config.
//
// It reads each layer once: a Scanner wraps the image so that the layers
// are checked as the SBOM's reader streams them, and reads by itself only
// the layers nobody else read.
package posture

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/customs-dev/customs/vuln"
)

// Rule is a kind of finding: its ID is what policies require and ignore
// entries name.
type Rule struct {
	ID       string        `json:"id"`
	Severity vuln.Severity `json:"severity"`
	Title    string        `json:"title"`
	// Help says why it matters; Fix what to do.
	Help string `json:"help"`
	Fix  string `json:"fix"`
}

// The rules' IDs.
const (
	RootUser       = "root-user"
	ExposedPort    = "exposed-port"
	CredentialEnv  = "credential-env"
	NoHealthcheck  = "no-healthcheck"
	UnpinnedTag    = "unpinned-tag"
	Setuid         = "setuid"
	WorldWritable  = "world-writable"
	Shell          = "shell"
	PackageManager = "package-manager"
	AttackTool     = "attack-tool"
	Miner          = "miner"
	DeletedFile    = "deleted-file"
	Secret         = "secret"
)

// Rules are every rule, by ID.
var Rules = map[string]Rule{
	RootUser: {RootUser, vuln.Medium, "The image runs as root",
		"A process that runs as root in a container is root on the container's files and one kernel bug away from root on the node; an intruder who gets a shell keeps every privilege.",
		"Create an unprivileged user and end the Dockerfile with USER 10001 (or a name); Kubernetes' runAsNonRoot then holds it."},
	ExposedPort: {ExposedPort, vuln.Low, "The image exposes a port",
		"Every exposed port is a listener someone can reach; remote-administration ports (22, 23, 2375, 3389, 5900) invite the intruder in.",
		"Expose only the ports the service serves; remove remote-administration daemons from the image."},
	CredentialEnv: {CredentialEnv, vuln.High, "An environment variable holds what looks like a credential",
		"Variables set in the image (ENV, or ARG used by RUN) are stored in its config and readable by anyone who can pull it.",
		"Pass credentials at run time (Kubernetes Secrets, a mounted file, a secret manager), or use build secrets (RUN --mount=type=secret); rotate the credential."},
	NoHealthcheck: {NoHealthcheck, vuln.Low, "The image has no HEALTHCHECK",
		"Without a health check a hung service keeps receiving traffic until someone notices.",
		"Add a HEALTHCHECK to the Dockerfile, or a liveness probe where the image is deployed."},
	UnpinnedTag: {UnpinnedTag, vuln.Low, "The image is referenced by a moving tag",
		"A tag such as latest can point at different images from one pull to the next, so what was scanned is not what runs.",
		"Reference the image by digest (REPO@sha256:...) or by an immutable version tag."},
	Setuid: {Setuid, vuln.Medium, "A setuid or setgid executable",
		"A setuid or setgid executable runs with its owner's privileges; a bug in it, or a way to make it run something else, is a privilege escalation.",
		"Remove the file, or clear the bit in the Dockerfile (chmod u-s,g-s FILE), and run with allowPrivilegeEscalation: false."},
	WorldWritable: {WorldWritable, vuln.Medium, "A world-writable file or directory outside /tmp",
		"Any user in the container can change a world-writable file, or plant files in a world-writable directory without the sticky bit, and so change what the service runs.",
		"chmod o-w the path in the Dockerfile; for scratch space use /tmp or an emptyDir volume."},
	Shell: {Shell, vuln.Low, "A shell is present",
		"A shell is what an intruder's first exploit runs: an image without one (distroless, scratch) turns a remote code execution into much less.",
		"Build FROM a distroless or scratch base and copy in only the program and what it loads."},
	PackageManager: {PackageManager, vuln.Low, "A package manager is present",
		"A package manager lets an intruder install the tools the image left out.",
		"Use a multi-stage build: install in a build stage and copy the result into a minimal final stage."},
	AttackTool: {AttackTool, vuln.Medium, "A network or attack tool is present",
		"Tools such as nc, socat, curl, wget, nmap, tcpdump, gdb and strace are an intruder's next step: reverse shells, downloads of second stages, scanning and tracing of the host's neighbours.",
		"Remove the tool from the final image (multi-stage build); if a health check needs HTTP, build a small static client into the program."},
	Miner: {Miner, vuln.Critical, "A cryptominer",
		"Miners (xmrig and kin) are what most compromised images carry: they burn the cluster's CPU for someone else, and their presence means the image or its build was compromised.",
		"Do not run the image. Find how the miner got in (the layer's history says which build step added it), rebuild from a trusted base, and rotate the credentials the build could read."},
	DeletedFile: {DeletedFile, vuln.Low, "A file added by one layer and deleted by a later one",
		"Deleting a file in a later layer hides it but does not remove it: anyone who pulls the image can read every layer.",
		"Add and remove the file in the same RUN step, or use a multi-stage build or build secrets so it never enters a layer."},
	Secret: {Secret, vuln.Critical, "A secret is baked into the image",
		"A private key, cloud credential or token in a layer or in the config is readable by anyone who can pull the image, even when a later layer deletes the file.",
		"Rotate the credential now. Then pass it at run time (Kubernetes Secrets, a mounted file) or as a build secret (RUN --mount=type=secret), never COPY or ENV."},
}

// RuleIDs are the rules' IDs, sorted.
func RuleIDs() []string {
	ids := make([]string, 0, len(Rules))
	for id := range Rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// CheckRules reports an ID that names no rule.
func CheckRules(ids []string) error {
	for _, id := range ids {
		if _, ok := Rules[id]; !ok {
			return fmt.Errorf("%q is not a posture rule (use %s)", id, strings.Join(RuleIDs(), ", "))
		}
	}
	return nil
}

// ExecRule is the rule an executed program breaks, by its base name: a
// miner, a network or attack tool, or a shell. A trace flags such execs
// even where EXEC is granted: they are an intruder's next step.
func ExecRule(program string) (string, bool) {
	base := strings.ToLower(path.Base(program))
	switch {
	case miners[base]:
		return Miner, true
	case attackTools[base]:
		return AttackTool, true
	case shells[base]:
		return Shell, true
	}
	return "", false
}

// Names of the tools the file checks look for, by base name.
var (
	shells = set("sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox")
	// Package managers and installers that fetch more software.
	packageManagers = set("apt", "apt-get", "aptitude", "dpkg", "apk", "yum", "dnf", "microdnf", "rpm", "zypper", "pacman", "pip", "pip3", "npm", "gem", "tdnf")
	attackTools     = set("nc", "ncat", "netcat", "nc.openbsd", "nc.traditional", "nmap", "masscan", "socat", "curl", "wget", "tcpdump", "gdb", "strace", "telnet", "hping3", "hydra")
	miners          = set("xmrig", "xmr-stak", "xmr-stak-cpu", "xmr-stak-rx", "cpuminer", "cpuminer-multi", "minerd", "cgminer", "bfgminer", "ethminer", "nbminer", "t-rex", "lolminer", "phoenixminer", "ccminer", "nanominer", "srbminer-multi", "teamredminer", "gminer", "kawpowminer", "xmrig-notls")
)

// Strings that betray a miner. They are written reversed and turned round
// at run time, so that the customs executable does not hold them and flag
// itself.
var (
	// poolStrings are the pool protocol's URL schemes: one flags a text
	// file (a miner's configuration).
	poolStrings = reversed("//:pct+mutarts", "//:lss+mutarts", "//:slt+mutarts", "//:pct+2mutarts", "//:pct+1mutarts", `"level-etanod"`)
	// minerStrings add what miners' executables name: an executable is
	// flagged for two different ones.
	minerStrings = append(reversed("girmx", "XmodnaR", "thginotpyrc"), poolStrings...)
	// stratum is the start the pool URLs share.
	stratum = poolStrings[0][:7]
)

// reversed turns each string round.
func reversed(ss ...string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		r := []rune(s)
		for a, b := 0, len(r)-1; a < b; a, b = a+1, b-1 {
			r[a], r[b] = r[b], r[a]
		}
		out[i] = string(r)
	}
	return out
}

// binDirs are where a program found on PATH lives.
var binDirs = set("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")

// scratchDirs may be world-writable.
var scratchDirs = []string{"/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock"}

// adminPorts are remote-administration ports, exposed at a higher severity.
var adminPorts = map[string]bool{"22": true, "23": true, "2375": true, "2376": true, "3389": true, "5900": true}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
