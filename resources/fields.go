package resources

import (
	"net/mail"
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

// property is the field as a HAL-FORMS property, with value filled in.
func (f field) property(value string) hal.Property {
	p := f.prop
	p.Value = value
	return p
}

// optional is the property of the field as a member an update may leave
// out.
func (f field) optional(value string) hal.Property {
	p := f.property(value)
	p.Required = false
	return p
}

// fields are the request members the API validates.
type fields struct {
	username, email, password, oldPassword, aboutMe, body field
}

func newFields(minPassword int) fields {
	f := fields{
		username: newField(hal.Property{Name: "username", Prompt: "Username", Type: "text", Required: true,
			Regex: `^[A-Za-z0-9._\-]{1,64}$`, MinLength: 1, MaxLength: 64},
			"username must be 1 to 64 characters, each a letter, a digit, '.', '_' or '-'"),
		email: newField(hal.Property{Name: "email", Prompt: "Email address", Type: "email", Required: true,
			MaxLength: 120}, ""),
		// A password must hold something besides white space; the regex
		// says so for a browser (JavaScript's \s, and U+0085, which it
		// lacks), and passwordProblem checks it here.
		password: newField(hal.Property{Name: "password", Prompt: "Password", Type: "password", Required: true,
			Regex: `^[\s\S]*[^\s\x85][\s\S]*$`, MinLength: minPassword, MaxLength: 256}, passwordSpaces),
		oldPassword: newField(hal.Property{Name: "old_password", Prompt: "Current password (to change it)",
			Type: "password"}, ""),
		aboutMe: newField(hal.Property{Name: "about_me", Prompt: "About me", Type: "textarea", MaxLength: 140}, ""),
		// A post must hold something besides white space. The regex says so
		// for a browser (JavaScript's \s); the server trims exactly those
		// characters (isSpace) before counting.
		body: newField(hal.Property{Name: "body", Prompt: "What's happening?", Type: "textarea", Required: true,
			Regex: `^[\s\S]*\S[\s\S]*$`, MinLength: 1, MaxLength: 140}, "body must not be only white space"),
	}
	// An address in Unicode normal form C, so that two spellings of one
	// address are one address to the uniqueness check.
	f.email.normalize, f.email.valid = norm.NFC.String, emailProblem
	f.password.normalize, f.password.valid = normalizePassword, passwordProblem
	f.oldPassword.normalize = normalizePassword
	f.aboutMe.removable = true
	return f
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
	}
}

// registration is the properties of the registration form.
func (f fields) registration() []hal.Property {
	return []hal.Property{f.username.property(""), f.email.property(""), f.password.property(""),
		f.aboutMe.property("")}
}

// profile is the properties of the form that edits u.
func (f fields) profile(u persistence.User) []hal.Property {
	return []hal.Property{f.username.optional(u.Username), f.email.optional(u.Email),
		f.aboutMe.optional(u.AboutMe), f.password.optional(""), f.oldPassword.optional("")}
}

// emailProblem says what is wrong with an email address of a fitting
// length, or "".
func emailProblem(email string) string {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return "email must be a single email address, such as susan@example.com"
	}
	return ""
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
