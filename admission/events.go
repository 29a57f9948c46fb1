package admission

import (
	"io"

	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// distributionEvents is the notification envelope Distribution
// (docker-registry) posts to the endpoints of its config
// (application/vnd.docker.distribution.events.v1+json).
type distributionEvents struct {
	Events []struct {
		Action string `json:"action"`
		Target struct {
			MediaType  string `json:"mediaType"`
			Digest     string `json:"digest"`
			Repository string `json:"repository"`
			URL        string `json:"url"`
		} `json:"target"`
		Request struct {
			Host string `json:"host"`
		} `json:"request"`
	} `json:"events"`
}

// manifestTypes are the media types of what a push event names when an
// image (or an index of images) was pushed; blobs are the rest.
var manifestTypes = []string{
	ociManifestType, dockerManifestType,
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
}

const maxEventsSize = 1 << 20

// serveDistributionEvents starts a scan of every image a push event
// names, so that its decision (and Harbor report) is ready before anyone
// asks. Pulls, blob pushes and deletes are ignored; a digest pushed again
// joins the scan in flight or finds its decision in the cache.
func (s *Server) serveDistributionEvents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventsSize))
	if err != nil {
		http.Error(w, "the body is not a Distribution notification envelope: "+err.Error(), http.StatusBadRequest)
		return
	}
	images, err := pushedImages(body)
	if err != nil {
		http.Error(w, "the body is not a Distribution notification envelope: "+err.Error(), http.StatusBadRequest)
		return
	}
	for _, image := range images {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ctx, cancel := context.WithTimeout(s.base, s.cfg.ScanTimeout)
			defer cancel()
			d := s.Decide(ctx, image, "")
			s.logger.Info("scanned on push", "image", image, "allowed", d.Allowed, "cached", d.Cached)
		}()
	}
	s.metrics.pushScans.Add(float64(len(images)))
	w.WriteHeader(http.StatusAccepted)
}

// pushedImages are the images (HOST/REPO@DIGEST) an envelope's manifest
// pushes name, each once.
func pushedImages(body []byte) ([]string, error) {
	var env distributionEvents
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	var images []string
	for _, e := range env.Events {
		t := e.Target
		if e.Action != "push" || !slices.Contains(manifestTypes, t.MediaType) || !digestPattern.MatchString(t.Digest) || t.Repository == "" {
			continue
		}
		host := e.Request.Host
		if u, err := url.Parse(t.URL); err == nil && u.Host != "" {
			host = u.Host
		}
		image := host + "/" + t.Repository + "@" + t.Digest
		if _, err := name.NewDigest(image, name.StrictValidation); err != nil || strings.ContainsAny(host, "/@") || slices.Contains(images, image) {
			continue
		}
		images = append(images, image)
	}
	return images, nil
}
