import Crypto
import DurableFiles
import Foundation
import SwiftASN1
import X509

/// The agent's TLS key and self-signed leaf certificate, and the pin controllers check.
public struct TLSIdentity: Sendable {
    public var keyPath: String
    public var certificatePath: String

    public init(directory: String) {
        keyPath = "\(directory)/agent-key.pem"
        certificatePath = "\(directory)/agent-cert.pem"
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: keyPath) }

    /// Generates an ECDSA P-256 key (mode 0600) and a ten-year self-signed leaf for
    /// `127.0.0.1`, `localhost` and `hostnames`, and returns the pin.
    ///
    /// Trust comes from the pin, not from the certificate's names or dates, so
    /// the long validity costs nothing; re-running `init --force` rotates both.
    public func generate(hostnames: [String], force: Bool, now: Date = Date()) throws -> String {
        if exists && !force {
            throw IdentityError("\(keyPath) already exists; pass --force to replace the key, after which every controller needs the new pin")
        }
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("felhom-agent") }
        var names: [GeneralName] = [.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])), .dnsName("localhost")]
        names += hostnames.filter { $0 != "localhost" }.map { GeneralName.dnsName($0) }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                KeyUsage(digitalSignature: true)
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(key))
        try FileManager.default.createDirectory(
            atPath: (keyPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        try DurableFile.writeAtomically(Array(key.pemRepresentation.utf8) + [10], to: keyPath, mode: 0o600)
        let pem = try certificate.serializeAsPEM().pemString
        try DurableFile.writeAtomically(Array(pem.utf8) + [10], to: certificatePath, mode: 0o644)
        return Self.pin(of: key.publicKey)
    }

    /// The pin of the certificate on disk.
    public func pin() throws -> String {
        let pem = try String(contentsOfFile: certificatePath, encoding: .utf8)
        let certificate = try Certificate(pemEncoded: pem)
        guard let key = P256.Signing.PublicKey(certificate.publicKey) else {
            throw IdentityError("\(certificatePath) does not hold a P-256 key")
        }
        return Self.pin(of: key)
    }

    /// `sha256//` and the base64 SHA-256 of the DER SubjectPublicKeyInfo, as CURLOPT_PINNEDPUBLICKEY reads it.
    static func pin(of key: P256.Signing.PublicKey) -> String {
        "sha256//" + Data(SHA256.hash(data: key.derRepresentation)).base64EncodedString()
    }
}

/// The key or certificate cannot be made or read.
public struct IdentityError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
