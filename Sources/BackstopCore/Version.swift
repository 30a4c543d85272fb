/// Backstop's version, written into every manifest.
public enum BackstopVersion {
    public static let current = "0.1.0"
}
