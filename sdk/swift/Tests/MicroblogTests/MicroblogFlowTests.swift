// The flow of issue 13 through the generated SDK only, against a running server:
//
//   npm start > server.log                      # in the API's repository: http://localhost:5000
//   MICROBLOG_BASE_URL=http://localhost:5000 MICROBLOG_SERVER_LOG=/path/to/server.log swift test
//                                               # here, on a Mac with Xcode 16+
//
// The server runs without SMTP_URL, so it writes its mails to its log: the password reset
// step reads the token from there.
//
// Written by hand, kept by `npm run sdk:swift`, which checks that it parses and that it
// calls every operation of the contract. It has not been compiled: no Swift toolchain
// reaches the machines this repository is built on (see docs/sdks.md).

import Foundation
import XCTest
import Microblog

final class MicroblogFlowTests: XCTestCase {
    private let baseURL = ProcessInfo.processInfo.environment["MICROBLOG_BASE_URL"] ?? "http://localhost:5000"
    private let password = "correct horse battery staple"

    /// The status an SDK call failed with, or -1 for an error that is not an ErrorResponse.
    private func status(of error: any Error) -> Int {
        (error as? ErrorResponse)?.statusCode ?? -1
    }

    /// The query items of a `_links.next` or `_links.newer` link (root-relative: `/api/users?page=2&per_page=1`).
    private func query(_ link: String) -> [String: String] {
        var items: [String: String] = [:]
        for item in URLComponents(string: link)?.queryItems ?? [] {
            items[item.name] = item.value
        }
        return items
    }

    /// The reset token in the last mail to `address` in the server's log (JSON lines, the
    /// mail's newlines escaped as `\n`); polled, as the mail is sent after the answer.
    private func resetToken(mailedTo address: String) async throws -> String {
        let logPath = try XCTUnwrap(ProcessInfo.processInfo.environment["MICROBLOG_SERVER_LOG"], "set MICROBLOG_SERVER_LOG to the server's log")
        let pattern = try NSRegularExpression(pattern: #"\\n([A-Za-z0-9_-]{43})\\n"#)
        for _ in 0..<200 {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            let mail = log.split(separator: "\n").last { $0.contains("\"mail\":{") && $0.contains("\"to\":\"\(address)\"") }
            if let mail {
                let line = String(mail)
                if let match = pattern.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)),
                   let range = Range(match.range(at: 1), in: line) {
                    return String(line[range])
                }
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        XCTFail("no reset mail to \(address) in \(logPath)")
        throw CancellationError()
    }

    func testFlow() async throws {
        let tag = String(UUID().uuidString.prefix(8)).lowercased()
        let anonymous = MicroblogAPIConfiguration.anonymous(basePath: baseURL)

        // The entry point and the probes need no credentials.
        let root = try await DiscoveryAPI.getApi(apiConfiguration: anonymous)
        XCTAssertFalse(root.links.users.isEmpty)
        let health = try await OperationsAPI.getHealth(apiConfiguration: anonymous)
        XCTAssertEqual(health.status, .ok)
        _ = try await OperationsAPI.getReadiness(apiConfiguration: anonymous)

        // Register.
        func register(_ name: String) async throws -> User {
            try await UsersAPI.createUser(
                newUser: NewUser(username: "\(name)_\(tag)", email: "\(name)_\(tag)@example.com", password: password),
                apiConfiguration: anonymous
            )
        }
        let ann = try await register("ann")
        let bob = try await register("bob")

        // Log in with Basic; the token goes with every later call.
        let token = try await TokensAPI.createToken(
            apiConfiguration: .basic(basePath: baseURL, login: ann.username, password: password)
        )
        XCTAssertEqual(token.userId, ann.id)
        let api = MicroblogAPIConfiguration.bearer(basePath: baseURL, token: token.token)
        let annAsSeen = try await UsersAPI.getUser(id: ann.id, apiConfiguration: api)
        XCTAssertEqual(annAsSeen.email, ann.email)

        // A second device: its own named session, refreshed (the old refresh token is spent),
        // listed beside this one, then logged out from here; its refresh token is then a 401.
        let phone = try await TokensAPI.createToken(
            newSession: NewSession(device: "Ann's iPhone"),
            apiConfiguration: .basic(basePath: baseURL, login: ann.username, password: password)
        )
        let next = try await TokensAPI.refreshToken(
            refreshRequest: RefreshRequest(refreshToken: phone.refreshToken), apiConfiguration: anonymous
        )
        XCTAssertEqual(next.sessionId, phone.sessionId)
        XCTAssertNotEqual(next.token, phone.token)
        let sessions = try await TokensAPI.listSessions(apiConfiguration: api)
        XCTAssertEqual(sessions.items.first { $0.id == phone.sessionId }?.device, "Ann's iPhone")
        XCTAssertEqual(sessions.items.first { $0.current }?.id, token.sessionId)
        // The listed session's self link, followed: the same session, not the current one here.
        let one = try await TokensAPI.getSession(sessionId: phone.sessionId, apiConfiguration: api)
        XCTAssertEqual(one.id, phone.sessionId)
        XCTAssertEqual(one.device, "Ann's iPhone")
        XCTAssertFalse(one.current)
        try await TokensAPI.endSession(sessionId: phone.sessionId, apiConfiguration: api)
        do {
            _ = try await TokensAPI.refreshToken(
                refreshRequest: RefreshRequest(refreshToken: next.refreshToken), apiConfiguration: anonymous
            )
            XCTFail("expected 401: the session has ended")
        } catch {
            XCTAssertEqual(status(of: error), 401)
        }

        // Page users to the end by _links.next, one user a page.
        var page = try await UsersAPI.listUsers(perPage: 1, apiConfiguration: api)
        var pages = 1
        var ids = page.items.map(\.id)
        while let next = page.links.next {
            let link = query(next)
            page = try await UsersAPI.listUsers(
                page: link["page"].flatMap { Int($0) },
                perPage: link["per_page"].flatMap { Int($0) },
                cursor: link["cursor"],
                apiConfiguration: api
            )
            pages += 1
            ids += page.items.map(\.id)
        }
        XCTAssertEqual(Int64(pages), page.meta.totalItems)
        XCTAssertEqual(Int64(ids.count), page.meta.totalItems)
        XCTAssertTrue(ids.contains(ann.id) && ids.contains(bob.id))

        // Post without, then with an Idempotency-Key; the retry with the key gets the same post.
        let plain = try await PostsAPI.createPost(newPost: NewPost(body: "without a key"), apiConfiguration: api)
        XCTAssertEqual(plain.author, ann.id)
        let key = "flow-\(tag)"
        let first = try await PostsAPI.createPostWithRequestBuilder(
            newPost: NewPost(body: "with a key"), idempotencyKey: key, apiConfiguration: api
        ).execute()
        XCTAssertEqual(first.statusCode, 201)
        let retry = try await PostsAPI.createPostWithRequestBuilder(
            newPost: NewPost(body: "with a key"), idempotencyKey: key, apiConfiguration: api
        ).execute()
        XCTAssertEqual(retry.body.id, first.body.id)
        XCTAssertEqual(retry.headerValue("Idempotent-Replayed"), "true")
        let post = first.body

        // Follow (204), check it (204), and the other way round (404).
        try await FollowsAPI.followUser(id: ann.id, targetId: bob.id, apiConfiguration: api)
        try await FollowsAPI.getFollow(id: ann.id, targetId: bob.id, apiConfiguration: api)
        do {
            try await FollowsAPI.getFollow(id: bob.id, targetId: ann.id, apiConfiguration: api)
            XCTFail("expected 404: bob does not follow ann")
        } catch {
            XCTAssertEqual(status(of: error), 404)
        }
        // (XCTAssert's autoclosures cannot await: each answer is read first.)
        let followed = try await FollowsAPI.listFollowed(id: ann.id, apiConfiguration: api)
        XCTAssertTrue(followed.items.contains { $0.id == bob.id })
        let followers = try await FollowsAPI.listFollowers(id: bob.id, apiConfiguration: api)
        XCTAssertTrue(followers.items.contains { $0.id == ann.id })
        let annsPosts = try await PostsAPI.listUserPosts(id: ann.id, apiConfiguration: api)
        XCTAssertTrue(annsPosts.items.contains { $0.id == post.id })
        let everyonesPosts = try await PostsAPI.listPosts(apiConfiguration: api)
        XCTAssertTrue(everyonesPosts.items.contains { $0.id == post.id })
        _ = try await PostsAPI.getFeed(id: bob.id, apiConfiguration: api)

        // Private messages: bob writes to ann; her unread count, her received messages
        // (reading them marks them read), bob's sent ones, and the message by id.
        let bobsToken = try await TokensAPI.createToken(
            apiConfiguration: .basic(basePath: baseURL, login: bob.username, password: password)
        )
        let bobsAPI = MicroblogAPIConfiguration.bearer(basePath: baseURL, token: bobsToken.token)
        let message = try await MessagesAPI.sendMessage(
            id: ann.id, newMessage: NewMessage(body: "Lunch at noon?"), apiConfiguration: bobsAPI
        )
        XCTAssertEqual(message.recipient, ann.id)
        let unread = try await UsersAPI.getUser(id: ann.id, apiConfiguration: api)
        XCTAssertEqual(unread.unreadMessageCount, 1)
        let received = try await MessagesAPI.listMessages(apiConfiguration: api)
        XCTAssertEqual(received.items.first?.id, message.id)
        let allRead = try await UsersAPI.getUser(id: ann.id, apiConfiguration: api)
        XCTAssertEqual(allRead.unreadMessageCount, 0)
        let sentByBob = try await MessagesAPI.listSentMessages(apiConfiguration: bobsAPI)
        XCTAssertEqual(sentByBob.items.first?.id, message.id)
        let byId = try await MessagesAPI.getMessage(id: message.id, apiConfiguration: api)
        XCTAssertEqual(byId.body, "Lunch at noon?")

        // Notifications: bob writes again, so ann's unread_message_count is 1; bob has a
        // new_follower (ann follows him). Polled with `since` the newest timestamp, at most
        // that one comes back: a Date keeps milliseconds, the server's timestamps
        // microseconds. The stream, read whole by the generated call (`timeout` 1: the server
        // ends it after a second), sends each as an event; resumed after the newest id
        // (Last-Event-ID), none. Reading the messages sets the count back to 0.
        _ = try await MessagesAPI.sendMessage(
            id: ann.id, newMessage: NewMessage(body: "Still there?"), apiConfiguration: bobsAPI
        )
        let notes = try await NotificationsAPI.listNotifications(apiConfiguration: api)
        let unreadNote = try XCTUnwrap(notes.data.first { $0.name == .unreadMessageCount })
        XCTAssertEqual(unreadNote.data, 1)
        XCTAssertEqual(notes.links.stream, "/api/notifications/stream")
        let bobsNotes = try await NotificationsAPI.listNotifications(apiConfiguration: bobsAPI)
        XCTAssertEqual(bobsNotes.data.first { $0.name == .newFollower }?.data, 1)
        let newest = try XCTUnwrap(notes.data.last) // oldest first
        let sinceNewest = try await NotificationsAPI.listNotifications(since: newest.timestamp, apiConfiguration: api)
        XCTAssertTrue(sinceNewest.data.allSatisfy { $0.id == newest.id })
        let stream = try await NotificationsAPI.streamNotifications(timeout: 1, apiConfiguration: api)
        XCTAssertTrue(stream.hasPrefix("retry: "))
        XCTAssertTrue(stream.contains("id: \(unreadNote.id)\n"))
        XCTAssertTrue(stream.contains("data: {\"id\":\(unreadNote.id),\"name\":\"unread_message_count\",\"data\":1,"))
        let resumed = try await NotificationsAPI.streamNotifications(
            lastEventID: String(newest.id), timeout: 1, apiConfiguration: api
        )
        XCTAssertFalse(resumed.contains("data:"))
        _ = try await MessagesAPI.listMessages(apiConfiguration: api)
        let afterReading = try await NotificationsAPI.listNotifications(since: newest.timestamp, apiConfiguration: api)
        XCTAssertEqual(afterReading.data.last?.name, .unreadMessageCount)
        XCTAssertEqual(afterReading.data.last?.data, 0)

        // Blocking: ann blocks bob (204), checks it (204) and lists it; bob's next message is
        // a 403; then she unblocks him.
        try await BlocksAPI.blockUser(id: ann.id, targetId: bob.id, apiConfiguration: api)
        try await BlocksAPI.getBlock(id: ann.id, targetId: bob.id, apiConfiguration: api)
        let blocked = try await BlocksAPI.listBlocked(id: ann.id, apiConfiguration: api)
        XCTAssertEqual(blocked.items.map(\.id), [bob.id])
        do {
            _ = try await MessagesAPI.sendMessage(
                id: ann.id, newMessage: NewMessage(body: "Hello?"), apiConfiguration: bobsAPI
            )
            XCTFail("expected 403: ann blocks bob")
        } catch {
            XCTAssertEqual(status(of: error), 403)
        }
        try await BlocksAPI.unblockUser(id: ann.id, targetId: bob.id, apiConfiguration: api)

        // Pull to refresh: ann's feed read, then bob (followed) and ann post; `_links.newer`,
        // followed until a page comes back empty, brings exactly those posts, newest first.
        let top = try await PostsAPI.getFeed(id: ann.id, page: 1, perPage: 2, apiConfiguration: api)
        XCTAssertEqual(top.items.count, 2)
        let bobsLogin = try await TokensAPI.createToken(
            apiConfiguration: .basic(basePath: baseURL, login: bob.username, password: password)
        )
        let asBob = MicroblogAPIConfiguration.bearer(basePath: baseURL, token: bobsLogin.token)
        var arrived: [Int64] = [] // newest first
        for (author, body) in [(asBob, "newer 1 \(tag)"), (api, "newer 2 \(tag)"), (asBob, "newer 3 \(tag)")] {
            let created = try await PostsAPI.createPost(newPost: NewPost(body: body), apiConfiguration: author)
            arrived.insert(created.id, at: 0)
        }
        var pulled: [Int64] = []
        var newer = top.links.newer
        var pulls = 0
        while pulls < 10 {
            let link = query(try XCTUnwrap(newer, "a timeline page has a newer link"))
            XCTAssertNotNil(link["cursor"])
            let above = try await PostsAPI.getFeed(
                id: ann.id,
                page: link["page"].flatMap { Int($0) },
                perPage: link["per_page"].flatMap { Int($0) },
                cursor: link["cursor"],
                apiConfiguration: api
            )
            pulls += 1
            if above.items.isEmpty { break }
            XCTAssertLessThanOrEqual(above.items.count, 2)
            pulled.insert(contentsOf: above.items.map(\.id), at: 0) // each page lies above the last
            newer = above.links.newer
        }
        XCTAssertEqual(pulled, arrived)
        XCTAssertEqual(pulls, 3)

        // Search: posts by words (relevance, then newest first), with no newer link; users by username prefix.
        let found = try await PostsAPI.listPosts(q: "newer \(tag)", perPage: 3, apiConfiguration: api)
        XCTAssertEqual(found.items.map(\.id), arrived)
        XCTAssertNil(found.links.newer)
        let named = try await UsersAPI.listUsers(q: ann.username.uppercased(), apiConfiguration: api)
        XCTAssertEqual(named.items.first?.id, ann.id)

        // Conditional GET: the ETag sent back in If-None-Match gets a 304.
        let read = try await PostsAPI.getPostWithRequestBuilder(id: post.id, apiConfiguration: api).execute()
        let etag = try XCTUnwrap(read.headerValue("ETag"))
        do {
            _ = try await PostsAPI.getPost(id: post.id, ifNoneMatch: etag, apiConfiguration: api)
            XCTFail("expected 304")
        } catch {
            XCTAssertEqual(status(of: error), 304)
        }

        // Update with If-Match; with the stale ETag a typed 412.
        let edited = try await PostsAPI.updatePostWithRequestBuilder(
            id: post.id, postUpdate: PostUpdate(body: "edited"), ifMatch: etag, apiConfiguration: api
        ).execute()
        XCTAssertEqual(edited.body.body, "edited")
        do {
            _ = try await PostsAPI.updatePost(
                id: post.id, postUpdate: PostUpdate(body: "lost update"), ifMatch: etag, apiConfiguration: api
            )
            XCTFail("expected 412")
        } catch {
            XCTAssertEqual(status(of: error), 412)
            XCTAssertEqual((error as? ErrorResponse)?.apiError?.error, "Precondition Failed")
        }
        let me = try await UsersAPI.getUserWithRequestBuilder(id: ann.id, apiConfiguration: api).execute()
        let updated = try await UsersAPI.updateUser(
            id: ann.id, userUpdate: UserUpdate(aboutMe: "testing the Swift SDK"),
            ifMatch: me.headerValue("ETag"), apiConfiguration: api
        )
        XCTAssertEqual(updated.aboutMe, "testing the Swift SDK")

        // Unfollow, delete (204), then the post is gone (404).
        try await FollowsAPI.unfollowUser(id: ann.id, targetId: bob.id, apiConfiguration: api)
        try await PostsAPI.deletePost(id: post.id, ifMatch: edited.headerValue("ETag"), apiConfiguration: api)
        do {
            _ = try await PostsAPI.getPost(id: post.id, apiConfiguration: api)
            XCTFail("expected 404")
        } catch {
            XCTAssertEqual(status(of: error), 404)
        }

        // Export ann's posts: 202 with Location, polled (a moment apart, at most 10 s) until
        // done, then the file holds them, as her timeline lists them.
        let asked = try await ExportsAPI.createExportWithRequestBuilder(id: ann.id, apiConfiguration: api).execute()
        XCTAssertEqual(asked.statusCode, 202)
        XCTAssertEqual(asked.headerValue("Location"), "/api/exports/\(asked.body.id)")
        var export = asked.body
        var polls = 0
        while export.status != .done && polls < 200 {
            polls += 1
            XCTAssertNotEqual(export.status, .failed)
            try await Task.sleep(nanoseconds: 50_000_000)
            export = try await ExportsAPI.getExport(id: asked.body.id, apiConfiguration: api)
        }
        XCTAssertEqual(export.status, .done)
        XCTAssertEqual(export.progress, 100)
        let file = try await ExportsAPI.getExportFile(id: asked.body.id, apiConfiguration: api)
        XCTAssertEqual(Int64(file.count), export.postCount)
        let timeline = try await PostsAPI.listUserPosts(id: ann.id, perPage: 100, apiConfiguration: api)
        XCTAssertEqual(file.map { $0.id }, timeline.items.map { $0.id })

        // Log out; the next call with the token is a typed 401 with the error body.
        try await TokensAPI.revokeToken(apiConfiguration: api)
        do {
            _ = try await PostsAPI.getFeed(id: ann.id, apiConfiguration: api)
            XCTFail("expected 401")
        } catch {
            XCTAssertEqual(status(of: error), 401)
            XCTAssertEqual((error as? ErrorResponse)?.apiError?.error, "Unauthorized")
        }

        // A forgotten password: a reset token by mail, then a new password with it, which
        // ends every session of bob's.
        let bobsSession = try await TokensAPI.createToken(
            apiConfiguration: .basic(basePath: baseURL, login: bob.username, password: password)
        )
        let accepted = try await TokensAPI.requestPasswordReset(
            passwordResetRequest: PasswordResetRequest(email: bob.email ?? ""),
            apiConfiguration: anonymous
        )
        XCTAssertFalse(accepted.message.isEmpty)
        let resetToken = try await resetToken(mailedTo: bob.email ?? "")
        let newPassword = "a new password \(tag)"
        try await TokensAPI.resetPassword(
            passwordReset: PasswordReset(token: resetToken, password: newPassword),
            apiConfiguration: anonymous
        )
        do {
            try await TokensAPI.resetPassword(
                passwordReset: PasswordReset(token: resetToken, password: newPassword),
                apiConfiguration: anonymous
            )
            XCTFail("expected 400: the token is used up")
        } catch {
            XCTAssertEqual(status(of: error), 400)
        }
        do {
            _ = try await UsersAPI.getUser(id: bob.id, apiConfiguration: .bearer(basePath: baseURL, token: bobsSession.token))
            XCTFail("expected 401: the reset ended bob's sessions")
        } catch {
            XCTAssertEqual(status(of: error), 401)
        }
        let renewed = try await TokensAPI.createToken(
            apiConfiguration: .basic(basePath: baseURL, login: bob.username, password: newPassword)
        )
        XCTAssertEqual(renewed.userId, bob.id)
    }
}
