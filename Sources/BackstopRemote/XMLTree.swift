import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// An S3 response document as a tree of elements (names without namespaces, text trimmed).
struct XMLTree {
    var name: String
    var text: String = ""
    var children: [XMLTree] = []

    /// The direct children named `name`.
    func all(_ name: String) -> [XMLTree] { children.filter { $0.name == name } }
    /// The text of the first direct child named `name`.
    func value(_ name: String) -> String? { children.first { $0.name == name }?.text }

    static func parse(_ data: Data) -> XMLTree? {
        let parser = XMLParser(data: data)
        let builder = Builder()
        parser.delegate = builder
        parser.shouldProcessNamespaces = true
        guard parser.parse(), let root = builder.root else { return nil }
        return root
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var stack: [XMLTree] = []
        var root: XMLTree?

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            stack.append(XMLTree(name: elementName))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if !stack.isEmpty { stack[stack.count - 1].text += string }
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            guard var done = stack.popLast() else { return }
            done.text = done.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if stack.isEmpty { root = done } else { stack[stack.count - 1].children.append(done) }
        }
    }
}
