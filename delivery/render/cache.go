package render

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Rendering dominated the delivery worker's CPU (text/template and
// html/template reflect over the data on every execution). A message
// differs from the last one of the same shape only in its code, so a
// template that prints the code verbatim is executed once per shape with
// placeholder codes; later messages of that shape substitute the real code
// into the cached output.
//
// A template qualifies only when every use of .Code and .CodeSpelled is a
// plain {{.Code}} / {{.CodeSpelled}} action, so the code reaches the output
// unchanged (digits and ", " are the same under every html/template
// escaper). Anything else (a function, a condition, a pipeline on the code)
// is executed for every message.

const (
	codeMark  = "zQx9otpdCODE7kPw"
	spellMark = "zQx9otpdSPELL7kPw"
	// maxCached bounds the cache; it is emptied when full.
	maxCached = 4096
)

var (
	codeUse   = regexp.MustCompile(`\bCode(Spelled)?\b`)
	plainCode = regexp.MustCompile(`\{\{-?\s*\.Code(Spelled)?\s*-?\}\}`)
	usesTo    = regexp.MustCompile(`\bTo\b`)
	usesOpts  = regexp.MustCompile(`\bOptions?\b`)
)

// shape says which data a template's output depends on besides the code.
type shape struct {
	cacheable bool
	to, opts  bool
}

func shapeOf(src string) shape {
	return shape{
		cacheable: len(codeUse.FindAllStringIndex(src, -1)) == len(plainCode.FindAllStringIndex(src, -1)),
		to:        usesTo.MatchString(src),
		opts:      usesOpts.MatchString(src),
	}
}

// outputCache holds rendered outputs by file and data shape.
type outputCache struct {
	mu sync.RWMutex
	m  map[string]string
}

func (c *outputCache) get(k []byte) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[string(k)]
	return v, ok
}

func (c *outputCache) put(k, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = make(map[string]string, 64)
	}
	c.m[k] = v
}

// key appends to b what identifies the output of f for d, leaving out the
// code. The caller looks it up without converting it to a string (no
// allocation on a hit); d.Options are sorted into it only when the template
// reads them.
func (f *file) key(b []byte, d Data) []byte {
	b = append(b, f.source...)
	for _, s := range [...]string{d.Channel, d.Purpose, d.ProductName, d.Locale} {
		b = append(b, 0)
		b = append(b, s...)
	}
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(d.ExpiresSeconds), 10)
	if f.shape.to {
		b = append(b, 0)
		b = append(b, d.To...)
	}
	if f.shape.opts {
		keys := make([]string, 0, len(d.Options))
		for k := range d.Options {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = append(b, 0)
			b = append(b, k...)
			b = append(b, 1)
			b = append(b, d.Options[k]...)
		}
	}
	return b
}

// withCode puts the real code into an output rendered with the marks. (A
// strings.Replacer built per call cost more than the templates it saves.)
func withCode(out string, d Data) string {
	if strings.Contains(out, codeMark) {
		out = strings.ReplaceAll(out, codeMark, d.Code)
	}
	if strings.Contains(out, spellMark) {
		out = strings.ReplaceAll(out, spellMark, d.CodeSpelled)
	}
	return out
}
