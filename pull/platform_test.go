package pull

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestPlatformMatches(t *testing.T) {
	for _, tc := range []struct {
		have, want string
		ok         bool
	}{
		{"linux/amd64", "linux/amd64", true},
		{"linux/amd64", "linux/arm64", false},
		{"linux/amd64", "windows/amd64", false},
		{"linux/arm64", "linux/arm64/v8", true},
		{"linux/arm64/v8", "linux/arm64", true},
		{"linux/arm64/v8", "linux/arm64/v8", true},
		{"linux/arm/v7", "linux/arm", true},
		{"linux/arm/v6", "linux/arm/v7", false},
		{"linux/arm", "linux/arm/v7", false},
	} {
		have, _ := v1.ParsePlatform(tc.have)
		want, _ := v1.ParsePlatform(tc.want)
		if got := platformMatches(*have, *want); got != tc.ok {
			t.Errorf("platformMatches(%s, %s) = %v, want %v", tc.have, tc.want, got, tc.ok)
		}
	}
}

// blobSet is an in-memory store of small blobs, addressed by digest.
type blobSet map[v1.Hash][]byte

func (b blobSet) add(t *testing.T, v any) v1.Descriptor {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	h, n, _ := v1.SHA256(bytes.NewReader(raw))
	b[h] = raw
	return v1.Descriptor{Digest: h, Size: n}
}

func (b blobSet) fetch(h v1.Hash) ([]byte, error) {
	raw, ok := b[h]
	if !ok {
		return nil, fmt.Errorf("no blob %s", h)
	}
	return raw, nil
}

// image adds a one-layer image whose config has the platform p ("" for
// none) and returns its manifest's descriptor.
func (b blobSet) image(t *testing.T, p string) v1.Descriptor {
	t.Helper()
	var cf v1.ConfigFile
	if p != "" {
		pl, err := v1.ParsePlatform(p)
		if err != nil {
			t.Fatal(err)
		}
		cf.OS, cf.Architecture, cf.Variant = pl.OS, pl.Architecture, pl.Variant
	}
	layer := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%064x", len(b))}
	cf.RootFS.DiffIDs = []v1.Hash{layer}
	cfg := b.add(t, cf)
	cfg.MediaType = types.OCIConfigJSON
	m := b.add(t, v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cfg,
		Layers: []v1.Descriptor{{MediaType: types.OCILayer, Digest: layer, Size: 1}}})
	m.MediaType = types.OCIManifestSchema1
	return m
}

// TestSelectImage checks that a single image is chosen by its config's
// platform and an index by its entries', and that the error lists what the
// target has.
func TestSelectImage(t *testing.T) {
	blobs := blobSet{}
	amd64 := blobs.image(t, "linux/amd64")
	arm64 := blobs.image(t, "linux/arm64/v8")
	noPlatform := blobs.image(t, "")
	index := func(ds ...v1.Descriptor) v1.Descriptor {
		d := blobs.add(t, v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: ds})
		d.MediaType = types.OCIImageIndex
		return d
	}
	withPlatform := func(d v1.Descriptor, p string) v1.Descriptor {
		d.Platform, _ = v1.ParsePlatform(p)
		return d
	}
	multi := index(withPlatform(amd64, "linux/amd64"), withPlatform(arm64, "linux/arm64/v8"))
	wrapped := index(amd64) // index.json of a docker archive or a layout of one image
	untagged := index(amd64, arm64)

	for _, tc := range []struct {
		name     string
		root     v1.Descriptor
		platform string // "" for none given: the host's, not checked against a single image
		want     v1.Hash
		wantErr  *PlatformError
	}{
		{name: "single image, no platform asked", root: arm64, want: arm64.Digest},
		{name: "single image, its platform", root: amd64, platform: "linux/amd64", want: amd64.Digest},
		{name: "single image, another platform", root: amd64, platform: "linux/arm64", wantErr: &PlatformError{Available: []string{"linux/amd64"}}},
		{name: "single arm64/v8 image, arm64", root: arm64, platform: "linux/arm64", want: arm64.Digest},
		{name: "single image without platform, none asked", root: noPlatform, want: noPlatform.Digest},
		{name: "single image without platform", root: noPlatform, platform: "linux/amd64", wantErr: &PlatformError{Unknown: true}},
		{name: "wrapped image, its platform", root: wrapped, platform: "linux/amd64", want: amd64.Digest},
		{name: "wrapped image, another platform", root: wrapped, platform: "linux/s390x", wantErr: &PlatformError{Available: []string{"linux/amd64"}}},
		{name: "index", root: multi, platform: "linux/arm64", want: arm64.Digest},
		{name: "index, variant", root: multi, platform: "linux/arm64/v8", want: arm64.Digest},
		{name: "index, missing platform", root: multi, platform: "linux/s390x", wantErr: &PlatformError{Available: []string{"linux/amd64", "linux/arm64/v8"}}},
		{name: "index without platforms, by config", root: untagged, platform: "linux/arm64", want: arm64.Digest},
		{name: "index without platforms, missing platform", root: untagged, platform: "linux/s390x", wantErr: &PlatformError{Available: []string{"linux/amd64", "linux/arm64/v8"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := v1.Platform{OS: "linux", Architecture: "amd64"}
			if tc.platform != "" {
				p, err := ParsePlatform(tc.platform)
				if err != nil {
					t.Fatal(err)
				}
				want = *p
			}
			raw, _ := blobs.fetch(tc.root.Digest)
			sel, err := selectImage(tc.root.Digest, raw, tc.root.MediaType, fetchers{manifest: blobs.fetch, config: blobs.fetch}, want, tc.platform != "")
			if tc.wantErr != nil {
				var pe *PlatformError
				if !errors.As(err, &pe) {
					t.Fatalf("selectImage(%s) = %v, want a PlatformError", tc.platform, err)
				}
				tc.wantErr.Want = want
				if diff := cmp.Diff(tc.wantErr, pe); diff != "" {
					t.Errorf("selectImage(%s): error differs (-want +got):\n%s", tc.platform, diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("selectImage(%s): %v", tc.platform, err)
			}
			if sel.manifest != tc.want {
				t.Errorf("selectImage(%s) = %s, want %s", tc.platform, sel.manifest, tc.want)
			}
		})
	}
}
