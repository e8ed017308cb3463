import Stacks
import Testing

@Suite("Stack names")
struct StackNameTests {
    @Test("accepts names that match ^[a-z0-9][a-z0-9_-]{0,62}$", arguments: [
        "shop", "a", "0", "my-app", "my_app", "a1-b2_c3", String(repeating: "a", count: 63),
    ])
    func acceptsValid(_ name: String) {
        #expect(StackName(name)?.rawValue == name)
    }

    @Test("rejects everything else", arguments: [
        "", "-shop", "_shop", "Shop", "shop.app", "shop app", "shop/app", "..", ".", "shöp",
        String(repeating: "a", count: 64), "shop;rm -rf /", "$(reboot)", "`id`", "a|b", "a&b", "--help", "a\nb",
    ])
    func rejectsInvalid(_ name: String) {
        #expect(StackName(name) == nil)
        #expect(throws: StackError.self) { try StackName(validating: name) }
    }
}
