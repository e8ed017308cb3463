/// A compose operation the controller performs on one stack.
public enum StackOperation: String, CaseIterable, Sendable, Codable {
    case up, start, stop, restart, down

    /// Operations that take a stack's services down, which protected stacks refuse.
    public var takesServicesDown: Bool {
        switch self {
        case .stop, .restart, .down: true
        case .up, .start: false
        }
    }
}
