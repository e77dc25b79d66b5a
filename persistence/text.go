package persistence

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxTagLength is the most characters a hashtag has, without its '#'.
const MaxTagLength = 64

// maxUsernameLength is the most characters a username has.
const maxUsernameLength = 64

// Hashtags returns the hashtags of a post's body, in the order they first
// appear, each once: the words after a '#' that does not continue a word,
// made of letters (with their combining marks), decimal digits and '_', at
// most MaxTagLength of them, in Unicode normal form C and lower case. A
// longer run is not a tag, and neither is a '#' inside a word ("C#",
// "issue#4").
func Hashtags(body string) []string {
	var tags []string
	for _, w := range marked(body, '#', IsTagRune) {
		tag := strings.ToLower(norm.NFC.String(w))
		if utf8.RuneCountInString(tag) <= MaxTagLength && !slices.Contains(tags, tag) {
			tags = append(tags, tag)
		}
	}
	return tags
}

// NormalizeTag returns tag as Hashtags would write it, and whether it is a
// tag at all.
func NormalizeTag(tag string) (string, bool) {
	tag = strings.ToLower(norm.NFC.String(tag))
	n := utf8.RuneCountInString(tag)
	if n == 0 || n > MaxTagLength || strings.IndexFunc(tag, func(r rune) bool { return !IsTagRune(r) }) >= 0 {
		return "", false
	}
	return tag, true
}

// IsTagRune reports whether r can be part of a hashtag.
func IsTagRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r) || r == '_'
}

// Mentions returns the usernames a post's body mentions, in the
// order they first appear, each once whatever its case: the names after an
// '@' that does not continue a word (so that an email address mentions no
// one), without the full stops that end a sentence after one.
func Mentions(body string) []string {
	var names []string
	for _, w := range marked(body, '@', isUsernameRune) {
		name := strings.TrimRight(w, ".")
		if name == "" || len(name) > maxUsernameLength {
			continue
		}
		if !slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, name) }) {
			names = append(names, name)
		}
	}
	return names
}

func isUsernameRune(r rune) bool {
	return r < utf8.RuneSelf && (r == '.' || r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r))
}

// marked returns the runs of runes that in are after each mark that is at
// the start of text or after a rune that is neither in nor a mark.
func marked(text string, mark rune, in func(rune) bool) []string {
	var words []string
	prev := ' '
	for i, r := range text {
		if r == mark && !in(prev) && prev != mark {
			start := i + utf8.RuneLen(mark)
			end := start + strings.IndexFunc(text[start:], func(r rune) bool { return !in(r) })
			if end < start {
				end = len(text)
			}
			if end > start {
				words = append(words, text[start:end])
			}
		}
		prev = r
	}
	return words
}
