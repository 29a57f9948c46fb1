package sbom

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/customs-dev/customs/pull"
)

// nestedJar is a jar of artifact a<level> holding the jar of the next
// level, down to the given depth.
func nestedJar(t *testing.T, level, depth int) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	name := fmt.Sprintf("a%d", level)
	w, _ := zw.Create("META-INF/MANIFEST.MF")
	fmt.Fprintf(w, "Manifest-Version: 1.0\r\nImplementation-Title: %s\r\nImplementation-Version: 1.0\r\n\r\n", name)
	w, _ = zw.Create("META-INF/maven/org.example/" + name + "/pom.properties")
	fmt.Fprintf(w, "groupId=org.example\nartifactId=%s\nversion=1.%d\n", name, level)
	if level < depth {
		w, _ = zw.Create(fmt.Sprintf("BOOT-INF/lib/a%d.jar", level+1))
		w.Write(nestedJar(t, level+1, depth))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestArchiveDepth catalogs jars nested ten deep: the archives within the
// bound (app.jar is the first level) are opened, the deeper ones are not.
func TestArchiveDepth(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.jar"), nestedJar(t, 0, 10), 0o644)
	ctx := context.Background()
	a, err := pull.Fetch(ctx, pull.Target{Kind: pull.Dir, Ref: dir, Input: "dir:" + dir}, pull.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, depth := range []int{0, 2} {
		s, err := Generate(ctx, a, Options{MaxArchiveDepth: depth, ForMatching: true})
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]bool{}
		for p := range s.Artifacts.Packages.Enumerate() {
			found[p.Name] = true
		}
		want := depth
		if depth == 0 {
			want = DefaultMaxArchiveDepth
		}
		for level := 0; level <= 10; level++ {
			name := fmt.Sprintf("a%d", level)
			if found[name] != (level < want) {
				t.Errorf("depth %d: a%d found %v (packages %v)", depth, level, found[name], found)
			}
		}
	}
}
