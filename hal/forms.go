package hal

import (
	"strings"
)

// Template is a HAL-FORMS template: a state transition a client may
// perform, with the properties it sends.
type Template struct {
	Title       string     `json:"title,omitempty"`
	Method      string     `json:"method"`
	Target      string     `json:"target,omitempty"`
	ContentType string     `json:"contentType,omitempty"`
	Properties  []Property `json:"properties"`
}

// Property is one field of a HAL-FORMS template.
type Property struct {
	Name        string `json:"name"`
	Prompt      string `json:"prompt,omitempty"`
	Type        string `json:"type,omitempty"`
	Required    bool   `json:"required,omitempty"`
	ReadOnly    bool   `json:"readOnly,omitempty"`
	Regex       string `json:"regex,omitempty"`
	MinLength   int    `json:"minLength,omitempty"`
	MaxLength   int    `json:"maxLength,omitempty"`
	Placeholder string `json:"placeholder,omitempty"`
	Value       string `json:"value,omitempty"`
}

type namedTemplate struct {
	key string
	t   Template
}

// AddTemplate adds the template key ("default" for the main one). Templates
// are rendered only by AppendForms, at the top level of a document.
func (r *Resource) AddTemplate(key string, t Template) *Resource {
	for _, nt := range r.templates {
		if nt.key == key {
			r.fail("template %q added twice", key)
			return r
		}
	}
	if t.Properties == nil {
		t.Properties = []Property{}
	}
	r.templates = append(r.templates, namedTemplate{key: key, t: t})
	return r
}

// HasTemplates reports whether r has any HAL-FORMS template, and so whether
// it has a HAL-FORMS representation different from its HAL one.
func (r *Resource) HasTemplates() bool { return len(r.templates) > 0 }

// AppendForms appends the HAL-FORMS document of r: its HAL document with
// _templates. Targets are prefixed with base as hrefs are.
func (r *Resource) AppendForms(dst []byte, base string) ([]byte, error) {
	dst, err := r.AppendJSON(dst, base)
	if err != nil || len(r.templates) == 0 {
		return dst, err
	}
	dst = dst[:len(dst)-1] // reopen the object
	if dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, `"_templates":{`...)
	for i, nt := range r.templates {
		if i > 0 {
			dst = append(dst, ',')
		}
		t := nt.t
		t.Target = prefixed(t.Target, base)
		dst = appendString(dst, nt.key)
		dst = append(dst, ':')
		if dst, err = appendMarshal(dst, t); err != nil {
			return nil, err
		}
	}
	return append(dst, '}', '}'), nil
}

// prefixed puts base before an absolute-path href.
func prefixed(href, base string) string {
	if isPath(href) {
		return base + href
	}
	return href
}

// isPath reports whether href is an absolute path, which base goes before.
func isPath(href string) bool {
	return strings.HasPrefix(href, "/") && !strings.HasPrefix(href, "//")
}
