import AgentAPI
import Testing

@Suite("The shapes of agent ids")
struct AgentIDTests {
    @Test("the documented shape passes, for each kind, and the examples have it", arguments: AgentID.Kind.allCases)
    func valid(kind: AgentID.Kind) {
        #expect(AgentID.isValid(AgentID.example(kind), kind: kind))
        #expect(AgentID.isValid("\(kind.rawValue)-20261124T020000Z-11c2", kind: kind), "the golden files' 4-digit suffix")
    }

    @Test("anything else fails: NUL, control characters, paths, case, a wrong prefix, a short or long suffix", arguments: [
        "", "b-1", "b-20261125T020000Z-1a2b3c4d\u{0}junk", "b-20261125T020000Z-1a2b3c4d\n", " b-20261125T020000Z-1a2b3c4d",
        "B-20261125T020000Z-1a2b3c4d", "r-20261125T020000Z-1a2b3c4d", "b-20261125T020000Z-1A2B3C4D", "b-20261125T020000Z-1a2",
        "b-20261125T020000Z-" + String(repeating: "a", count: 33), "b-2026112xT020000Z-1a2b3c4d", "b-20261125 020000Z-1a2b3c4d",
        "../b-20261125T020000Z-1a2b3c4d", "b-20261125T020000Z-1a2b3c4d/..", "b-２0261125T020000Z-1a2b3c4d",
    ])
    func invalid(candidate: String) {
        #expect(!AgentID.isValid(candidate, kind: .backup))
    }
}
