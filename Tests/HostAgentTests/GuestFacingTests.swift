import Testing

@testable import HostAgent

@Suite("Messages a guest reads")
struct GuestFacingTests {
    @Test("absolute paths become <host path>, wherever they sit in the message", arguments: [
        ("the guest's data_dir /srv/guests/alpha does not exist", "the guest's data_dir <host path> does not exist"),
        ("/var/lib/felhom-agent/backups is full", "<host path> is full"),
        ("tar: /srv/a/b: Cannot open: Permission denied", "tar: <host path>: Cannot open: Permission denied"),
        ("open(\"/tmp/x y\") failed", "open(\"<host path> y\") failed"),
        ("staging at /srv/x.", "staging at <host path>."),
        ("rename '/a/b' -> '/a/c', then (/d/e)", "rename '<host path>' -> '<host path>', then (<host path>)"),
        ("path=/srv/x,other", "path=<host path>,other"),
        ("at file:///srv/x/y.tar", "at <host path>"),
        ("{/srv/a} <\u{201C}/srv/b\u{201D}>", "{<host path>} <\u{201C}<host path>\u{201D}>"),
    ])
    func redacts(input: String, expected: String) {
        #expect(GuestFacing.redact(input) == expected)
    }

    @Test("what is not a path stays as it was", arguments: [
        "backup b-20261125T020000Z-1a2b3c4d is still in flight",
        "1/2 of the archive",
        "a/b relative",
        "https://example.com/x stays a URL",
        "sizes: 10 / 20",
        "",
    ])
    func keeps(input: String) {
        #expect(GuestFacing.redact(input) == input)
    }
}
