package render

import (
	"crypto/rand"
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
// escaper), and no action uses the whole data (a bare . or $). Anything else
// (a function, a condition, a pipeline on the code, {{printf "%v" .}}) is
// executed for every message.

// maxCached bounds the cache; it is emptied when full.
const maxCached = 4096

// marks are the placeholder codes a cacheable template is executed with.
// They are random per Renderer: the caller's templateOptions reach the
// output too, and an option spelling a known placeholder would have the
// real code substituted wherever the caller put it (a link of theirs in
// someone else's email).
type marks struct{ code, spell string }

// newMarks starts each mark with "zQ": a substring search skips ahead on
// the first byte, and 'z' is rare in messages.
func newMarks() marks {
	return marks{code: "zQc" + rand.Text(), spell: "zQs" + rand.Text()}
}

var (
	codeUse   = regexp.MustCompile(`\bCode(Spelled)?\b`)
	plainCode = regexp.MustCompile(`\{\{-?\s*\.Code(Spelled)?\s*-?\}\}`)
	usesTo    = regexp.MustCompile(`\bTo\b`)
	usesOpts  = regexp.MustCompile(`\bOptions?\b`)
	// action and wholeData find a bare . or $ in an action: the whole data
	// handed to printf, a variable or another template, whose output may
	// show any field (the address, the options) without naming it.
	action    = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	wholeData = regexp.MustCompile(`(^|[^\w.$)\]])[.$]($|[^\w.])`)
)

// shape says which data a template's output depends on besides the code.
type shape struct {
	cacheable bool
	to, opts  bool
}

// Only actions are searched for uses of the code: the word "Code" in the
// text around them (German "Ihr Code für") is not one.
func shapeOf(src string) shape {
	whole := false
	uses, plain := 0, 0
	for _, a := range action.FindAllString(src, -1) {
		whole = whole || wholeData.MatchString(a[2:len(a)-2])
		uses += len(codeUse.FindAllStringIndex(a, -1))
		if plainCode.MatchString(a) {
			plain++
		}
	}
	return shape{
		cacheable: !whole && uses == plain,
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
// code; the caller looks it up without converting it to a string (no
// allocation on a hit). Every part is length-prefixed: options are the
// caller's and may hold any byte, so no separator could keep
// {"a": "b\x00c\x01d"} and {"a": "b", "c": "d"} apart. (The expiry is
// digits, ended by ':'.)
func (f *file) key(b []byte, d Data) []byte {
	part := func(b []byte, s string) []byte {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		return append(b, s...)
	}
	b = part(b, f.source)
	for _, s := range [...]string{d.Channel, d.Purpose, d.ProductName, d.Locale} {
		b = part(b, s)
	}
	b = strconv.AppendInt(b, int64(d.ExpiresSeconds), 10)
	b = append(b, ':')
	if f.shape.to {
		b = part(b, d.To)
	}
	if f.shape.opts {
		keys := make([]string, 0, len(d.Options))
		for k := range d.Options {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = part(b, k)
			b = part(b, d.Options[k])
		}
	}
	return b
}

// withCode puts the real code into an output rendered with the marks. (A
// strings.Replacer built per call cost more than the templates it saves.)
func withCode(out string, d Data, m marks) string {
	if strings.Contains(out, m.code) {
		out = strings.ReplaceAll(out, m.code, d.Code)
	}
	if strings.Contains(out, m.spell) {
		out = strings.ReplaceAll(out, m.spell, d.CodeSpelled)
	}
	return out
}
