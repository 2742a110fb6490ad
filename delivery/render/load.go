package render

import (
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	texttemplate "text/template"
	"unicode/utf8"
)

// templates holds the shipped templates, under templates/.
//
//go:embed templates
var templates embed.FS

// embeddedFS is the shipped templates with templates/ as its root.
func embeddedFS() (fs.FS, error) { return fs.Sub(templates, "templates") }

// dirFS is the custom template directory dir. os.DirFS follows symbolic
// links, as in a Kubernetes ConfigMap volume.
func dirFS(dir string) fs.FS { return os.DirFS(dir) }

// load reads and parses every template in fsys into r.files, replacing the
// file of the same template ID, locale and name read earlier. label names
// fsys in errors.
func (r *Renderer) load(fsys fs.FS, label string) error {
	where := func(p string) string {
		if strings.HasPrefix(label, "embedded:") {
			return label + "/" + p
		}
		return filepath.Join(label, filepath.FromSlash(p))
	}
	if err := wantDir(fsys, "."); err != nil {
		return fmt.Errorf("render: template directory %s: %w", label, err)
	}
	ids, err := readDir(fsys, ".")
	if err != nil {
		return fmt.Errorf("render: template directory %s: %w", label, err)
	}
	seen := map[fileKey]string{}
	for _, id := range ids {
		if err := wantDir(fsys, id); err != nil {
			return fmt.Errorf("render: %s: %w (want <templateID>/<locale>/<file>)", where(id), err)
		}
		if !validID(id) {
			return fmt.Errorf("render: %s: bad template ID %q (want letters, digits, '.', '_' or '-')", where(id), id)
		}
		locales, err := readDir(fsys, id)
		if err != nil {
			return fmt.Errorf("render: %s: %w", where(id), err)
		}
		for _, dirName := range locales {
			dirPath := path.Join(id, dirName)
			if err := wantDir(fsys, dirPath); err != nil {
				return fmt.Errorf("render: %s: %w (want <templateID>/<locale>/<file>)", where(dirPath), err)
			}
			locale := normLocale(dirName)
			if !validLocale(locale) {
				return fmt.Errorf("render: %s: bad locale %q (want a language tag such as en or pt-BR)", where(dirPath), dirName)
			}
			names, err := readDir(fsys, dirPath)
			if err != nil {
				return fmt.Errorf("render: %s: %w", where(dirPath), err)
			}
			for _, name := range names {
				p := path.Join(dirPath, name)
				k := fileKey{id, locale, name}
				if prev, dup := seen[k]; dup {
					return fmt.Errorf("render: %s: same template as %s (locale directories differ only in case or '_')", where(p), where(prev))
				}
				seen[k] = p
				f, err := parse(fsys, p, name, where(p), locale)
				if err != nil {
					return err
				}
				r.files[k] = f
			}
		}
	}
	return nil
}

// parse reads and parses one template file.
func parse(fsys fs.FS, p, name, source, locale string) (*file, error) {
	if _, ok := knownFiles[name]; !ok {
		return nil, fmt.Errorf("render: %s: unknown template file name %q (want one of %s)", source, name, fileNames())
	}
	info, err := fs.Stat(fsys, p)
	if err != nil {
		return nil, fmt.Errorf("render: %s: %w", source, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("render: %s: not a regular file", source)
	}
	src, err := fs.ReadFile(fsys, p)
	if err != nil {
		return nil, fmt.Errorf("render: %s: %w", source, err)
	}
	if !utf8.Valid(src) {
		return nil, fmt.Errorf("render: %s: not valid UTF-8", source)
	}
	f := &file{source: source, locale: locale, shape: shapeOf(string(src))}
	if strings.HasSuffix(name, ".html") {
		f.tmpl, err = htmltemplate.New(p).Option("missingkey=zero").Parse(string(src))
	} else {
		f.tmpl, err = texttemplate.New(p).Option("missingkey=zero").Parse(string(src))
	}
	if err != nil {
		return nil, fmt.Errorf("render: %s: %w", source, err)
	}
	return f, nil
}

// readDir lists the names in dir, leaving out hidden ones (".DS_Store",
// ".gitkeep", a ConfigMap's "..data").
func readDir(fsys fs.FS, dir string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// wantDir fails unless p is a directory (following symbolic links).
func wantDir(fsys fs.FS, p string) error {
	info, err := fs.Stat(fsys, p)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("not a directory")
	}
	return nil
}

// validID reports whether id is a usable template ID.
func validID(id string) bool {
	if id == "" {
		return false
	}
	for _, c := range id {
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// validLocale reports whether l (normalised) looks like a language tag:
// subtags of 1 to 8 lower-case letters or digits separated by '-'.
func validLocale(l string) bool {
	for sub := range strings.SplitSeq(l, "-") {
		if len(sub) < 1 || len(sub) > 8 {
			return false
		}
		for _, c := range sub {
			if !isAlnum(c) || (c >= 'A' && c <= 'Z') {
				return false
			}
		}
	}
	return true
}

func isAlnum(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// fileNames lists the known template file names, sorted.
func fileNames() string {
	names := make([]string, 0, len(knownFiles))
	for n := range knownFiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
