/// Polls `condition` until it holds or `timeout` passes. Tests wait for states this way, never by sleeping a fixed time.
///
/// The default deadline is long on purpose: it costs nothing when the condition
/// holds, and the suite runs on 2 loaded cores, where a second can become thirty.
/// - Returns: whether the condition held before the deadline.
public func eventually(
    timeout: Duration = .seconds(120), every interval: Duration = .milliseconds(100),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}
