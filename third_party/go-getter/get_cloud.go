package getter

// This file replaces go-getter's get_s3.go and get_gcs.go in the copy that
// customs builds with (see README.customs.md): customs never downloads from
// S3 or GCS, and those two getters linked the AWS and Google Cloud SDKs, gRPC's
// xDS and OpenTelemetry into every customs binary. The types stay, so that
// code written against go-getter compiles; using them is an error.

import (
	"errors"
	"net/url"
	"time"
)

// ErrCloudGetter is what the S3 and GCS getters return in this copy.
var ErrCloudGetter = errors.New("go-getter: s3:: and gcs:: sources are not built into customs")

// S3Getter is go-getter's S3 getter, without the AWS SDK: every method
// returns ErrCloudGetter.
type S3Getter struct {
	getter

	// Timeout is kept for source compatibility.
	Timeout time.Duration
}

// ClientMode returns ErrCloudGetter.
func (g *S3Getter) ClientMode(*url.URL) (ClientMode, error) { return 0, ErrCloudGetter }

// Get returns ErrCloudGetter.
func (g *S3Getter) Get(string, *url.URL) error { return ErrCloudGetter }

// GetFile returns ErrCloudGetter.
func (g *S3Getter) GetFile(string, *url.URL) error { return ErrCloudGetter }

// GCSGetter is go-getter's GCS getter, without the Google Cloud SDK: every
// method returns ErrCloudGetter.
type GCSGetter struct {
	getter

	// Timeout and FileSizeLimit are kept for source compatibility.
	Timeout       time.Duration
	FileSizeLimit int64
}

// ClientMode returns ErrCloudGetter.
func (g *GCSGetter) ClientMode(*url.URL) (ClientMode, error) { return 0, ErrCloudGetter }

// Get returns ErrCloudGetter.
func (g *GCSGetter) Get(string, *url.URL) error { return ErrCloudGetter }

// GetFile returns ErrCloudGetter.
func (g *GCSGetter) GetFile(string, *url.URL) error { return ErrCloudGetter }
