package govalidator

// This file is customs' only addition to govalidator (see
// README.customs.md): the patterns of patterns.go are compiled the first
// time they are used instead of at package initialisation, which cost
// every customs process about 2 ms of start-up for an email check that
// verification rarely makes.

import (
	"regexp"
	"sync"
)

type lazyRE struct {
	once sync.Once
	src  string
	re   *regexp.Regexp
}

func lazyRegexp(src string) *lazyRE { return &lazyRE{src: src} }

func (l *lazyRE) MatchString(s string) bool {
	l.once.Do(func() { l.re = regexp.MustCompile(l.src) })
	return l.re.MatchString(s)
}
