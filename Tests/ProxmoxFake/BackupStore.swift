import Foundation

/// The directory storage's backup side: archive names, the content list, notes and protection files.
///
/// Like PVE's directory plugin it reads the dump directory itself, so what a test leaves there
/// (a `.tar.dat` leftover, a flipped byte) is what the API sees.
struct BackupStore: Sendable {
    let storage: String
    let dumpDirectory: String

    /// `vzdump-lxc-101-2026_12_06-05_40_00.tar.zst`, from `archive_info`'s standard-name regex.
    private static let namePattern =
        #"^vzdump-(lxc|qemu|openvz)-([1-9][0-9]{2,8})-(\d{4})_(\d{2})_(\d{2})-(\d{2})_(\d{2})_(\d{2})\.(tgz|tar|tar\.gz|tar\.lzo|tar\.zst|tar\.bz2|tar\.xz)$"#

    /// Host local time, as vzdump names archives and `timelocal` reads them back.
    private static func formatter() -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .current
        formatter.dateFormat = "yyyy_MM_dd-HH_mm_ss"
        return formatter
    }

    /// The archive file name for a backup of `vmid` started at `date`.
    static func archiveName(vmid: Int, date: Date, compressExtension: String?) -> String {
        "vzdump-lxc-\(vmid)-\(formatter().string(from: date)).tar" + (compressExtension.map { ".\($0)" } ?? "")
    }

    func volid(_ fileName: String) -> String { "\(storage):backup/\(fileName)" }

    /// The file name a volid names, whether given as `local:backup/x`, `backup/x` (with the storage in the path).
    func fileName(ofVolid volid: String) -> String? {
        var volname = volid
        if let colon = volid.firstIndex(of: ":") {
            guard volid[..<colon] == storage else { return nil }
            volname = String(volid[volid.index(after: colon)...])
        }
        guard volname.hasPrefix("backup/") else { return nil }
        let name = String(volname.dropFirst("backup/".count))
        return name.contains("/") || name.isEmpty ? nil : name
    }

    func path(_ fileName: String) -> String { "\(dumpDirectory)/\(fileName)" }

    /// Every standard-named archive in the dump directory.
    func backups() -> [FakeBackup] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dumpDirectory)) ?? []
        return names.sorted().compactMap(backup(named:))
    }

    func backup(named name: String) -> FakeBackup? {
        guard let regex = try? NSRegularExpression(pattern: Self.namePattern),
              let match = regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)),
              let typeRange = Range(match.range(at: 1), in: name), name[typeRange] == "lxc",
              let vmidRange = Range(match.range(at: 2), in: name), let vmid = Int(name[vmidRange]) else { return nil }
        let stamp = (3...8).compactMap { Range(match.range(at: $0), in: name).map { String(name[$0]) } }
        let text = "\(stamp[0])_\(stamp[1])_\(stamp[2])-\(stamp[3])_\(stamp[4])_\(stamp[5])"
        let full = path(name)
        let attributes = try? FileManager.default.attributesOfItem(atPath: full)
        guard attributes?[.type] as? FileAttributeType == .typeRegular else { return nil }
        return FakeBackup(
            volid: volid(name), vmid: vmid, path: full, size: (attributes?[.size] as? Int) ?? 0,
            ctime: Int(Self.formatter().date(from: text)?.timeIntervalSince1970 ?? 0),
            notes: try? String(contentsOfFile: full + ".notes", encoding: .utf8),
            protected: FileManager.default.fileExists(atPath: full + ".protected"))
    }

    /// One item of `GET …/content?content=backup`.
    func contentItem(_ backup: FakeBackup) -> JSONValue {
        let name = (backup.path as NSString).lastPathComponent
        let format = name.range(of: #"\.(tgz|tar(\.[a-z0-9]+)?)$"#, options: .regularExpression).map { String(name[$0].dropFirst()) } ?? "tar"
        var members: [(String, JSONValue)] = [
            ("volid", .string(backup.volid)), ("content", .string("backup")), ("format", .string(format)),
            ("size", .int(backup.size)), ("ctime", .int(backup.ctime)), ("vmid", .int(backup.vmid)),
            ("subtype", .string("lxc")),
        ]
        if let notes = backup.notes, let first = notes.split(separator: "\n", omittingEmptySubsequences: false).first,
           !notes.isEmpty {
            members.append(("notes", .string(String(first))))
        }
        if backup.protected { members.append(("protected", .int(1))) }
        return .object(members)
    }

    /// PVE's `format_size`: whole KB and MB, then two decimals.
    static func formatSize(_ size: Int) -> String {
        let kb = Double(size) / 1024
        if kb < 1024 { return "\(Int(kb))KB" }
        let mb = kb / 1024
        if mb < 1024 { return "\(Int(mb))MB" }
        let gb = mb / 1024
        if gb < 1024 { return String(format: "%.2fGB", gb) }
        return String(format: "%.2fTB", gb / 1024)
    }
}
