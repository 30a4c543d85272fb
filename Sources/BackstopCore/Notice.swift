/// Where the library reports things worth telling the user that are not errors
/// (a lock taken over from a process that died, stale files cleaned up). The command line prints them.
public enum Notice {
    nonisolated(unsafe) public static var sink: (String) -> Void = { _ in }

    public static func post(_ message: String) { sink(message) }
}
