/// The release both programs are, as `--version` prints it and each `/healthz` answers it.
///
/// One constant for the controller and the agent, since they ship and upgrade together; a
/// release bumps it here.
public enum ProductVersion {
    public static let current = "0.9.0"
}
