// Written by hand, kept by `npm run sdk:swift` when it regenerates the rest: credentials
// per call, and what an ErrorResponse says. Every generated call takes an
// `apiConfiguration:`; these make one for a server and a login or a token.

import Foundation

public extension MicroblogAPIConfiguration {
    /// Calls to `basePath` (e.g. `https://microblog.example`, no trailing slash) with no credentials:
    /// registering, the entry point, health.
    static func anonymous(basePath: String) -> MicroblogAPIConfiguration {
        MicroblogAPIConfiguration(basePath: basePath)
    }

    /// Calls with HTTP Basic credentials (username or email, and password, UTF-8), sent with
    /// the first request rather than after a challenge: what `TokensAPI.createToken` takes.
    static func basic(basePath: String, login: String, password: String) -> MicroblogAPIConfiguration {
        let credentials = Data("\(login):\(password)".utf8).base64EncodedString()
        return MicroblogAPIConfiguration(basePath: basePath, customHeaders: ["Authorization": "Basic \(credentials)"])
    }

    /// Calls with a bearer token from `TokensAPI.createToken`: every other operation.
    static func bearer(basePath: String, token: String) -> MicroblogAPIConfiguration {
        MicroblogAPIConfiguration(basePath: basePath, customHeaders: ["Authorization": "Bearer \(token)"])
    }
}

public extension ErrorResponse {
    /// The HTTP status of the answer (e.g. 401, 404, 412; 304 for a conditional GET whose
    /// version still holds), or the code of what failed before an answer came.
    var statusCode: Int {
        switch self {
        case let .error(statusCode, _, _, _):
            return statusCode
        }
    }

    /// The API's error body (`error`, `message`, `errors`), when the answer carried one.
    var apiError: ModelError? {
        switch self {
        case let .error(_, data, _, _):
            guard let data else { return nil }
            return try? JSONDecoder().decode(ModelError.self, from: data)
        }
    }
}

public extension Response {
    /// A response header, whatever the case of its name (URLSession may write `Etag`).
    func headerValue(_ name: String) -> String? {
        header.first { $0.key.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}
