//go:build !linux

package startup

func trim() {}
