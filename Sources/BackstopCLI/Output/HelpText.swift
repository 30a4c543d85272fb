/// Help text as written in the source (lines broken for reading there) turned into paragraphs that the
/// argument parser wraps to the terminal's width: lines of a paragraph are joined; blank lines, indented
/// lines (examples, tables) and headings in capitals stay as they are.
func reflow(_ text: String) -> String {
    var out: [String] = []
    var paragraph: [String] = []
    func flush() {
        if !paragraph.isEmpty { out.append(paragraph.joined(separator: " ")) }
        paragraph = []
    }
    for line in text.components(separatedBy: "\n") {
        let keep = line.isEmpty || line.first == " " || (line.uppercased() == line && line.contains(where: \.isLetter))
        if keep {
            flush()
            out.append(line)
        } else {
            paragraph.append(line)
        }
    }
    flush()
    return out.joined(separator: "\n")
}
