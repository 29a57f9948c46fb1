// Package goproxytest serves Go modules from memory over the module proxy
// protocol, with a checksum database signed by a test key, for tests.
package goproxytest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
	modzip "golang.org/x/mod/zip"
)

// Module is one module version: its files, go.mod among them.
type Module struct {
	Path, Version string
	Files         map[string]string
}

// Proxy is a running module proxy.
type Proxy struct {
	// URL is the GOPROXY value.
	URL string
	// GOSUMDB is the GOSUMDB value for its checksum database ("name+key").
	GOSUMDB string
	// Tamper, when set for "path@version", replaces that zip's files after
	// the checksum database recorded the real ones.
	Tamper map[string]map[string]string

	mods map[string]Module
	zips map[string][]byte
}

const sumdbName = "sum.customs.test"

// Start serves mods until the test ends.
func Start(t testing.TB, mods ...Module) *Proxy {
	t.Helper()
	p := &Proxy{mods: map[string]Module{}, zips: map[string][]byte{}, Tamper: map[string]map[string]string{}}
	for _, m := range mods {
		key := m.Path + "@" + m.Version
		p.mods[key] = m
		z, err := zipOf(m, m.Files)
		if err != nil {
			t.Fatalf("zipping %s: %v", key, err)
		}
		p.zips[key] = z
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, sumdbName)
	if err != nil {
		t.Fatal(err)
	}
	p.GOSUMDB = vkey
	db := sumdb.NewTestServer(skey, func(path, vers string) ([]byte, error) {
		key := path + "@" + vers
		m, ok := p.mods[key]
		if !ok {
			return nil, fmt.Errorf("no %s", key)
		}
		zh, err := dirhash.HashZip(writeTemp(t, p.zips[key]), dirhash.Hash1)
		if err != nil {
			return nil, err
		}
		mh := modHash(m.Files["go.mod"])
		return []byte(fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", path, vers, zh, path, vers, mh)), nil
	})
	dbHandler := http.StripPrefix("/sumdb/"+sumdbName, sumdb.NewServer(db))
	mux := http.NewServeMux()
	mux.HandleFunc("/sumdb/"+sumdbName+"/supported", func(w http.ResponseWriter, r *http.Request) {})
	mux.Handle("/sumdb/"+sumdbName+"/", dbHandler)
	mux.HandleFunc("/", p.serve)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	epath, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/@")
	path, err := module.UnescapePath(epath)
	if !ok || err != nil {
		http.NotFound(w, r)
		return
	}
	if rest == "latest" {
		best := ""
		for _, m := range p.mods {
			if m.Path == path && m.Version > best {
				best = m.Version
			}
		}
		if best == "" {
			http.Error(w, "not found: "+path, http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, `{"Version":%q,"Time":"2024-01-02T03:04:05Z"}`, best)
		return
	}
	file, _ := strings.CutPrefix(rest, "v/")
	dot := strings.LastIndex(file, ".")
	if dot < 0 {
		http.NotFound(w, r)
		return
	}
	vers, err := module.UnescapeVersion(file[:dot])
	if err != nil {
		http.NotFound(w, r)
		return
	}
	key := path + "@" + vers
	m, ok := p.mods[key]
	if !ok {
		http.Error(w, "not found: "+key, http.StatusNotFound)
		return
	}
	switch file[dot:] {
	case ".info":
		fmt.Fprintf(w, `{"Version":%q,"Time":"2024-01-02T03:04:05Z"}`, vers)
	case ".mod":
		fmt.Fprint(w, m.Files["go.mod"])
	case ".zip":
		if files, ok := p.Tamper[key]; ok {
			z, _ := zipOf(m, files)
			w.Write(z)
			return
		}
		w.Write(p.zips[key])
	default:
		http.NotFound(w, r)
	}
}

func zipOf(m Module, files map[string]string) ([]byte, error) {
	var fs []modzip.File
	for name, body := range files {
		fs = append(fs, memFile{name, body})
	}
	var buf bytes.Buffer
	err := modzip.Create(&buf, module.Version{Path: m.Path, Version: m.Version}, fs)
	return buf.Bytes(), err
}

func modHash(gomod string) string {
	h, _ := dirhash.Hash1([]string{"go.mod"}, func(string) (ioReadCloser, error) {
		return nopCloser{strings.NewReader(gomod)}, nil
	})
	return h
}
