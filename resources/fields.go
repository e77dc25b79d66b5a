package resources

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"microblog/hal"
	"microblog/persistence"
)

// field is one member of a request body: what the server accepts, and the
// HAL-FORMS property that tells a client so. Validation and forms are made
// from the same field, so a form never promises what the server refuses.
type field struct {
	prop hal.Property
	// pattern is prop.Regex compiled; patternReason says what it wants.
	pattern       *regexp.Regexp
	patternReason string
	// removable members may be removed by a merge patch: null reads as "".
	removable bool
	// normalize, when set, puts a value in the form that is compared and
	// stored.
	normalize func(string) string
	// valid, when set, checks what the property cannot say: it returns
	// what is wrong with a value of a fitting length, or "".
	valid func(string) string
	// boolean members are JSON booleans, read as "true" and "false"; the
	// strings "true" and "false", which a form sends, are taken too.
	boolean bool
	// updateOnly members are ignored in a registration, like unknown ones.
	updateOnly bool
}

func newField(p hal.Property, patternReason string) field {
	f := field{prop: p, patternReason: patternReason}
	if p.Regex != "" {
		f.pattern = regexp.MustCompile(p.Regex)
	}
	return f
}

// check returns what is wrong with v, or "".
func (f field) check(v string) string {
	name := f.prop.Name
	n := utf8.RuneCountInString(v)
	switch {
	case f.prop.MinLength > 0 && n < f.prop.MinLength:
		return name + " must be at least " + characters(f.prop.MinLength)
	case f.prop.MaxLength > 0 && n > f.prop.MaxLength:
		return name + " must be at most " + characters(f.prop.MaxLength)
	case f.pattern != nil && !f.pattern.MatchString(v):
		return f.patternReason
	case f.valid != nil:
		return f.valid(v)
	}
	return ""
}

func characters(n int) string {
	if n == 1 {
		return "1 character"
	}
	return strconv.Itoa(n) + " characters"
}

// read returns the member of o that f is, in a request of method, as a
// string; nil when it is absent or ignored. A member of the wrong type is a
// 400 naming it; a PATCH may set a removable member to null.
func (f field) read(o object, method string) (*string, error) {
	name := f.prop.Name
	if f.updateOnly && method == http.MethodPost {
		return nil, nil
	}
	if !f.boolean {
		return o.str(name, f.removable && method == http.MethodPatch)
	}
	raw, ok := o[name]
	if !ok {
		return nil, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil && string(raw) != "null" {
		s := strconv.FormatBool(b)
		return &s, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || string(raw) == "null" {
		return nil, fieldError(name, f.patternReason)
	}
	return &s, nil
}

// property is the field as a HAL-FORMS property, with value filled in.
func (f field) property(value string) hal.Property {
	p := f.prop
	p.Value = value
	return p
}

// fields are the request members the API validates.
type fields struct {
	username, email, password, oldPassword, aboutMe, gravatar, body field
}

// Lengths are counted in characters, which are Unicode code points; the
// prompts say so, since HAL-FORMS clients (JavaScript's maxlength and
// minlength) count UTF-16 code units. Counting more units than code points,
// such a client never admits a value longer than maxLength, but it would
// admit one shorter than minLength: see passwordRegex.
const codePoints = "counted as Unicode code points"

func newFields(minPassword int) fields {
	f := fields{
		username: newField(hal.Property{Name: "username", Prompt: "Username (1 to 64 letters, digits, '.', '_' or '-')",
			Type: "text", Required: true, Regex: `^[A-Za-z0-9._\-]{1,64}$`, MinLength: 1, MaxLength: 64},
			"username must be 1 to 64 characters, each a letter, a digit, '.', '_' or '-'"),
		email: newField(hal.Property{Name: "email", Prompt: "Email address (at most 120 characters, " + codePoints + ")",
			Type: "email", Required: true, Regex: emailPattern, MaxLength: 120},
			"email must be a single email address, such as susan@example.com"),
		password: newField(hal.Property{Name: "password", Type: "password", Required: true,
			Prompt: "Password (" + strconv.Itoa(minPassword) + " to 256 characters, " + codePoints +
				"; characters beyond U+FFFF, such as emoji, do not count towards the " + strconv.Itoa(minPassword) + ")",
			MinLength: minPassword, MaxLength: 256}, ""),
		oldPassword: newField(hal.Property{Name: "old_password", Prompt: "Current password", Type: "password",
			Required: true}, ""),
		aboutMe: newField(hal.Property{Name: "about_me", Prompt: "About me (at most 140 characters, " + codePoints + ")",
			Type: "textarea", MaxLength: 140}, ""),
		gravatar: newField(hal.Property{Name: "gravatar", Type: "text", Required: true, Regex: `^(?:true|false)$`,
			Prompt: "Show my Gravatar instead of an identicon: true or false (Gravatar's URL holds a hash of my " +
				"email address)"}, "gravatar must be true or false"),
		// A post must hold something besides white space. The regex says so
		// for a browser (JavaScript's \s); the server trims exactly those
		// characters (isSpace) before counting.
		body: newField(hal.Property{Name: "body", Prompt: "What's happening? (at most 140 characters, " + codePoints + ")",
			Type: "textarea", Required: true, Regex: `^[\s\S]*\S[\s\S]*$`, MinLength: 1, MaxLength: 140},
			"body must not be only white space"),
	}
	// The server counts the password's code points itself; the regex is
	// for clients only.
	f.password.prop.Regex = passwordRegex(minPassword)
	// An address in Unicode normal form C, so that two spellings of one
	// address are one address to the uniqueness check.
	f.email.normalize = norm.NFC.String
	f.password.normalize, f.password.valid = normalizePassword, passwordProblem
	f.oldPassword.normalize = normalizePassword
	f.aboutMe.removable = true
	f.gravatar.boolean, f.gravatar.updateOnly = true, true
	return f
}

// emailAtom is a dot-separated part of an address: a run of characters
// other than ASCII controls, space, DEL and the specials of RFC 5322
// ("(),.:;<>@[\]). Other characters, non-ASCII ones included (RFC 6532),
// are allowed, except U+037E, which normal form C turns into ';'. It is
// written for Go's regexp and for JavaScript's with and without the u and
// v flags alike, and matches the same strings in all three.
const emailAtom = `[^\x00-\x20\x7F"\(\),.:;<>@\[\\\]` + "\u037E" + `]+`

// emailPattern is the shape of an email address, for the form's regex and
// the server's check alike: a dot-atom, '@', a dot-atom (RFC 5322 section
// 3.4.1 without quoted strings, comments or domain literals).
const emailPattern = `^` + emailAtom + `(?:\.` + emailAtom + `)*@` + emailAtom + `(?:\.` + emailAtom + `)*$`

// bmp is a class of the characters that are one UTF-16 code unit: those
// up to U+FFFF that are not surrogates (U+FFFE and U+FFFF, which are no
// characters, left out too). The bounds are the characters themselves:
// Go's regexp and JavaScript's spell them differently.
const bmp = `\x00-` + "\uD7FF\uE000" + `-` + "\uFFFD"

// passwordRegex keeps a client that counts UTF-16 code units from
// admitting a password of fewer than n code points: it asks for n
// characters of one code unit each, which are n code points whichever way
// they are counted. It matches the same strings in Go and in JavaScript,
// with or without the u or v flag.
func passwordRegex(n int) string {
	if n <= 1 {
		return "" // one code unit or more is one code point or more
	}
	return `^(?:[^` + bmp + `]*[` + bmp + `]){` + strconv.Itoa(n) + `}[\s\S]*$`
}

// userMember is a member of a registration or an update: the field that
// checks it and, for a member that is a column of the user's row of the
// same name, its value there (nil for the passwords).
type userMember struct {
	field
	current func(persistence.User) string
}

// userMembers are the members of a registration or an update, in the order
// their problems are reported.
func (f fields) userMembers() []userMember {
	return []userMember{
		{f.username, func(u persistence.User) string { return u.Username }},
		{f.email, func(u persistence.User) string { return u.Email }},
		{f.password, nil},
		{f.oldPassword, nil},
		{f.aboutMe, func(u persistence.User) string { return u.AboutMe }},
		{f.gravatar, func(u persistence.User) string { return strconv.FormatBool(u.Gravatar) }},
	}
}

// registration is the properties of the registration form.
func (f fields) registration() []hal.Property {
	return []hal.Property{f.username.property(""), f.email.property(""), f.password.property(""),
		f.aboutMe.property("")}
}

// profile is the properties of the form that edits u: each holds its
// current value, so that the form sent back as shown changes nothing. Only
// about_me may be empty: a form must not let "" through where the server
// refuses it, and an empty optional field is exempt from its regex.
func (f fields) profile(u persistence.User) []hal.Property {
	return []hal.Property{f.username.property(u.Username), f.email.property(u.Email),
		f.aboutMe.property(u.AboutMe), f.gravatar.property(strconv.FormatBool(u.Gravatar))}
}

// passwordChange is the properties of the form that changes the password.
func (f fields) passwordChange() []hal.Property {
	return []hal.Property{f.oldPassword.property(""), f.password.property("")}
}

// normalizePassword puts a password in Unicode normal form KC before it is
// hashed or checked, so that the spellings of one password that keyboards
// and systems produce (composed or not, full-width or not) are one password.
func normalizePassword(p string) string { return norm.NFKC.String(p) }

// passwordSpaces is what passwordProblem says of a password of white space.
const passwordSpaces = "password must not be only white space"

// passwordProblem says what is wrong with a normalized password of a
// fitting length, or "": it must not be only white space, whether Unicode's
// or JavaScript's, which the form's regex knows.
func passwordProblem(p string) string {
	if strings.TrimFunc(p, func(r rune) bool { return unicode.IsSpace(r) || isSpace(r) }) == "" {
		return passwordSpaces
	}
	return ""
}

// passwordIsUsername reports whether password is username, in any case:
// the first guess of anyone who knows the name.
func passwordIsUsername(password, username string) bool {
	return username != "" && strings.EqualFold(password, username)
}

// isSpace is JavaScript's \s: the white space a HAL-FORMS client's regex
// check knows, so that trimming here agrees with the form.
func isSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', '\u00a0', '\u1680', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff':
		return true
	}
	return r >= '\u2000' && r <= '\u200a'
}

// trimSpace trims what isSpace calls white space.
func trimSpace(s string) string { return strings.TrimFunc(s, isSpace) }
