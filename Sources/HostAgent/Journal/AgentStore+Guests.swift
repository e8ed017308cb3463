import Foundation
import Capture
import GRDB

extension AgentStore {
    /// Adds a guest; fails if the name is taken.
    public func addGuest(_ guest: GuestRecord) throws {
        try database.write { db in
            if try GuestRecord.exists(db, key: guest.name) {
                throw GuestError("guest \(guest.name) already exists; pick another name")
            }
            // One container, one token: two guests of one vmid could each reach the other's backups.
            if let vmid = guest.vmid, let other = try GuestRecord.filter(Column("vmid") == vmid).fetchOne(db) {
                throw GuestError("CT \(vmid) is already guest \(other.name); each container is one guest")
            }
            try guest.insert(db)
        }
    }

    /// All guests, by name.
    public func guests() throws -> [GuestRecord] {
        try database.read { db in try GuestRecord.order(Column("name")).fetchAll(db) }
    }

    /// One guest, or `nil`.
    public func guest(named name: String) throws -> GuestRecord? {
        try database.read { db in try GuestRecord.fetchOne(db, key: name) }
    }

    /// Sets how the guest's backups capture its data dir.
    public func setCapture(guest name: String, _ setting: CaptureSetting) throws {
        try database.write { db in
            guard try GuestRecord.exists(db, key: name) else {
                throw GuestError("no guest named \(name); `felhom-agent guest add` creates one")
            }
            try db.execute(sql: "UPDATE guest SET capture = ? WHERE name = ?", arguments: [setting.rawValue, name])
        }
    }

    /// Makes the guest's backup due now; the next successful backup clears it.
    public func requestBackup(guest name: String, now: Date) throws {
        try database.write { db in
            guard try GuestRecord.exists(db, key: name) else {
                throw GuestError("no guest named \(name); `felhom-agent guest add` creates one")
            }
            try db.execute(sql: "UPDATE guest SET backup_requested_at = ? WHERE name = ?", arguments: [now, name])
        }
    }
}

/// A guest that cannot be added or found.
public struct GuestError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
