package packaging

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// ManPage renders credpool(1) in roff from the CLI's own help text, so that
// the man page cannot drift from `credpool --help`. The help text follows a
// small convention:
//
//   - The first line is "credpool - one-line summary" (the NAME section).
//   - Blocks are separated by blank lines. A block whose first line is
//     unindented and ends in ':' ("Usage:", "Commands:", "Environment:")
//     starts a section named by that line; "Usage" becomes SYNOPSIS. Text
//     before the first heading is the DESCRIPTION.
//   - An indented line "  term   description" (two or more blanks between)
//     becomes a tagged paragraph (.TP); a more deeply indented line right
//     after it continues the description.
//   - Any other line is running text; an indented one is kept as is (.nf).
func ManPage(usage string, version string, date time.Time) []byte {
	lines := strings.Split(strings.ReplaceAll(strings.TrimSpace(usage), "\r\n", "\n"), "\n")
	name, summary, _ := strings.Cut(lines[0], " - ")
	name = strings.TrimSpace(name)

	type section struct {
		title string
		body  bytes.Buffer
	}
	var sections []*section
	var cur *section
	for _, block := range splitBlocks(lines[1:]) {
		first := block[0]
		switch {
		case !startsIndented(first) && strings.HasSuffix(first, ":"):
			title := strings.ToUpper(strings.TrimSuffix(first, ":"))
			if title == "USAGE" {
				title = "SYNOPSIS"
			}
			cur = &section{title: title}
			sections = append(sections, cur)
			block = block[1:]
		case cur == nil:
			cur = &section{title: "DESCRIPTION"}
			sections = append(sections, cur)
		default:
			cur.body.WriteString(".PP\n")
		}
		writeBlock(&cur.body, block)
	}
	// man-pages(7) order: NAME, SYNOPSIS, then the rest as written.
	sort.SliceStable(sections, func(i, j int) bool {
		return sections[i].title == "SYNOPSIS" && sections[j].title != "SYNOPSIS"
	})

	var b bytes.Buffer
	fmt.Fprintf(&b, ".TH %s 1 %s %s \"User Commands\"\n", roffQuote(strings.ToUpper(name)),
		roffQuote(date.UTC().Format("2006-01-02")), roffQuote(name+" "+version))
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", roffEscape(name), roffEscape(strings.TrimSpace(summary)))
	for _, s := range sections {
		fmt.Fprintf(&b, ".SH %s\n", roffQuote(s.title))
		b.Write(s.body.Bytes())
	}
	return b.Bytes()
}

// writeBlock renders one blank-line-separated block of a section.
func writeBlock(b *bytes.Buffer, block []string) {
	inItem, inPre := false, false
	itemIndent := 0
	for _, line := range block {
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		text := strings.TrimSpace(line)
		m := itemLine.FindStringSubmatch(line)
		pre := m == nil && indent > 0 && !(inItem && indent > itemIndent)
		if inPre && !pre {
			b.WriteString(".fi\n")
			inPre = false
		}
		switch {
		case m != nil:
			fmt.Fprintf(b, ".TP\n.B %s\n%s\n", roffQuote(m[2]), roffEscape(m[3]))
			inItem, itemIndent = true, len(m[1])
		case inItem && indent > itemIndent:
			fmt.Fprintln(b, roffEscape(text))
		case pre:
			if !inPre {
				b.WriteString(".nf\n")
				inPre = true
			}
			fmt.Fprintln(b, roffEscape(line))
			inItem = false
		default:
			if inItem {
				b.WriteString(".PP\n")
			}
			fmt.Fprintln(b, roffEscape(text))
			inItem = false
		}
	}
	if inPre {
		b.WriteString(".fi\n")
	}
}

// itemLine is "  term   description": indented, then two or more blanks
// between the term and its description.
var itemLine = regexp.MustCompile(`^([ \t]+)(\S(?:.*?\S)?)[ \t]{2,}(\S.*)$`)

func startsIndented(s string) bool { return s != "" && (s[0] == ' ' || s[0] == '\t') }

func splitBlocks(lines []string) [][]string {
	var blocks [][]string
	var cur []string
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			if len(cur) > 0 {
				blocks = append(blocks, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, l)
	}
	if len(cur) > 0 {
		blocks = append(blocks, cur)
	}
	return blocks
}

// roffEscape makes text safe in roff: backslashes, hyphens (so that options
// render as minus signs and can be searched for), and a leading control
// character ('.' or '\”) that would start a request.
func roffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func roffQuote(s string) string {
	return `"` + strings.ReplaceAll(roffEscape(s), `"`, `\(dq`) + `"`
}
