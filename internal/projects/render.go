package projects

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	texttemplate "text/template"
)

// renderValues is what every template of an instance sees: its project's own values and the
// template's configuration. Nothing here comes from the clock, randomness or the environment, so
// the same definitions render the same bytes.
type renderValues struct {
	Project  projectValues
	Template templateValues
	// Config is the template's configuration document (JSON numbers keep their text).
	Config any
	// Users maps each member to its roles.
	Users map[string][]string
}

type projectValues struct {
	ID       string // yyyy-xxxx
	Base     string // yyyy
	From     string // xxxx-template
	Name     string
	AppID    string
	TimeZone string
	Desc     string
	Admins   []string // sorted
	Roles    []string
}

type templateValues struct {
	ID   string // the instance id, <project>.<template>
	Name string // the template's id within its template project
}

// renderError says where a template failed: the file and line, when the error names them.
type renderError struct {
	File string
	Line int
	Msg  string
}

func (e *renderError) Error() string { return e.Msg }

// templateErrRe reads text/template's and html/template's "template: NAME:LINE[:COL]: ..." prefix.
var templateErrRe = regexp.MustCompile(`template: ([^:]+):(\d+)(?::\d+)?: `)

func newRenderError(file string, err error) *renderError {
	re := &renderError{File: file, Msg: err.Error()}
	if m := templateErrRe.FindStringSubmatch(re.Msg); m != nil {
		re.File = m[1]
		re.Line, _ = strconv.Atoi(m[2])
	}
	if re.Line > 0 {
		re.Msg = strings.TrimPrefix(re.Msg, "template: ") // "<file>:<line>[:<col>]: ..."
	} else {
		re.Msg = fmt.Sprintf("%s: %s", re.File, re.Msg)
	}
	return re
}

// errorPlaceRe reads the file and line at the start of a render's error as History shows it.
var errorPlaceRe = regexp.MustCompile(`^([^:\s]+):(\d+)(?::\d+)?: `)

// isHTML tells whether an output is rendered with html/template (contextual escaping).
func isHTML(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".html", ".htm", ".xhtml":
		return true
	}
	return false
}

// isPartial tells whether a file is a partial: included by outputs with {{template "name"}}, not
// published itself.
func isPartial(p string) bool { return strings.HasPrefix(path.Base(p), "_") }

// renderFiles renders every output of a template in memory (the staging area) and returns path ->
// content. The first file that fails to parse or execute fails the whole render with its file and
// line: a broken template publishes nothing.
func renderFiles(files map[string]string, values renderValues) (map[string][]byte, error) {
	names := make([]string, 0, len(files))
	var partials []string
	for p := range files {
		if isPartial(p) {
			partials = append(partials, p)
		} else {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	sort.Strings(partials)
	funcs := funcMap()

	// The partials are parsed once per engine and cloned for each output.
	var textBase *texttemplate.Template
	var htmlBase *htmltemplate.Template
	textTmpl := func() (*texttemplate.Template, error) {
		if textBase == nil {
			textBase = texttemplate.New("").Funcs(funcs).Option("missingkey=error")
			for _, p := range partials {
				if _, err := textBase.New(p).Parse(files[p]); err != nil {
					return nil, newRenderError(p, err)
				}
			}
		}
		return textBase.Clone()
	}
	htmlTmpl := func() (*htmltemplate.Template, error) {
		if htmlBase == nil {
			htmlBase = htmltemplate.New("").Funcs(htmltemplate.FuncMap(funcs)).Option("missingkey=error")
			for _, p := range partials {
				if _, err := htmlBase.New(p).Parse(files[p]); err != nil {
					return nil, newRenderError(p, err)
				}
			}
		}
		return htmlBase.Clone()
	}

	out := make(map[string][]byte, len(names))
	total := 0
	for _, name := range names {
		var buf bytes.Buffer
		w := &limitedWriter{w: &buf, left: maxOutputBytes}
		var err error
		if isHTML(name) {
			var t *htmltemplate.Template
			if t, err = htmlTmpl(); err == nil {
				if t, err = t.New(name).Parse(files[name]); err == nil {
					err = t.Execute(w, values)
				}
			}
		} else {
			var t *texttemplate.Template
			if t, err = textTmpl(); err == nil {
				if t, err = t.New(name).Parse(files[name]); err == nil {
					err = t.Execute(w, values)
				}
			}
		}
		if err != nil {
			var re *renderError
			if errors.As(err, &re) {
				return nil, re
			}
			return nil, newRenderError(name, err)
		}
		total += buf.Len()
		if total > maxRenderedBytes {
			return nil, &renderError{File: name, Msg: fmt.Sprintf("%s: the outputs exceed %d bytes", name, maxRenderedBytes)}
		}
		out[name] = buf.Bytes()
	}
	return out, nil
}

// limitedWriter fails a write past its budget, so that a template looping without end stops at the
// output limit rather than at the memory's.
type limitedWriter struct {
	w    io.Writer
	left int
}

var errOutputTooLarge = fmt.Errorf("output larger than %d bytes", maxOutputBytes)

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.left {
		return 0, errOutputTooLarge
	}
	l.left -= len(p)
	return l.w.Write(p)
}
