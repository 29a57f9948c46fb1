package pull

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestLayerContentIsVerified checks that reading a layer to the end fails
// when its bytes do not match the manifest's digest or, for a compressed
// layer, the config's diff ID.
func TestLayerContentIsVerified(t *testing.T) {
	tarball := []byte(strings.Repeat("layer tar ", 100))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarball)
	zw.Close()
	sha := func(b []byte) v1.Hash { h, _, _ := v1.SHA256(bytes.NewReader(b)); return h }

	for _, tc := range []struct {
		name       string
		blob       []byte // what the store holds
		digest     v1.Hash
		diffID     v1.Hash
		wantErr    string
		compressed bool
	}{
		{"gzip layer", gz.Bytes(), sha(gz.Bytes()), sha(tarball), "", true},
		{"uncompressed layer", tarball, sha(tarball), sha(tarball), "", false},
		{"gzip layer with a wrong diff ID", gz.Bytes(), sha(gz.Bytes()), sha([]byte("other")), "diff ID", true},
		{"blob that does not match its digest", tarball, sha([]byte("other")), sha(tarball), "digest mismatch", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := json.Marshal(v1.ConfigFile{RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{tc.diffID}}})
			mt := types.DockerUncompressedLayer
			if tc.compressed {
				mt = types.DockerLayer
			}
			m, _ := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.DockerManifestSchema2,
				Config: v1.Descriptor{MediaType: types.DockerConfigJSON, Digest: sha(cfg), Size: int64(len(cfg))},
				Layers: []v1.Descriptor{{MediaType: mt, Digest: tc.digest, Size: int64(len(tc.blob))}}})
			img, err := newImage(m, cfg, func(v1.Hash) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tc.blob)), nil }, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			layers, _ := img.Layers()
			rc, err := layers[0].Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("reading the layer: %v", err)
			case tc.wantErr == "" && !bytes.Equal(got, tarball):
				t.Errorf("read %d bytes that differ from the layer", len(got))
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("reading the layer: err = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}
