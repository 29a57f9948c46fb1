module github.com/hashicorp/go-getter

go 1.25

require (
	github.com/bgentry/go-netrc v0.0.0-20140422174119-9fd32a8b3d3d
	github.com/hashicorp/go-cleanhttp v0.5.2
	github.com/klauspost/compress v1.20.3
	github.com/mitchellh/go-homedir v1.1.0
	github.com/ulikunitz/xz v0.5.17
	golang.org/x/sys v0.49.0
)
