/// Plain text tables with aligned columns; every cell is escaped (see ``TerminalText``).
struct TextTable {
    var headers: [String]
    var rows: [[String]] = []

    init(headers: [String]) { self.headers = headers }

    mutating func append(_ cells: [String]) { rows.append(cells.map(TerminalText.escape)) }

    func render() -> Line {
        var widths = headers.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return Line(raw: ([line(headers)] + rows.map(line)).joined(separator: "\n"))
    }
}
