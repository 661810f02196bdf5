package microblog.client

import java.io.File
import java.net.ServerSocket
import java.nio.file.Files
import java.util.Collections
import java.util.UUID
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.runBlocking
import microblog.client.apis.BlocksApi
import microblog.client.apis.DiscoveryApi
import microblog.client.apis.ExportsApi
import microblog.client.apis.FollowsApi
import microblog.client.apis.MessagesApi
import microblog.client.apis.NotificationsApi
import microblog.client.apis.OperationsApi
import microblog.client.apis.PostsApi
import microblog.client.apis.TokensApi
import microblog.client.apis.UsersApi
import microblog.client.infrastructure.ApiClient
import microblog.client.infrastructure.ClientException
import microblog.client.infrastructure.Redirection
import microblog.client.infrastructure.Serializer
import microblog.client.infrastructure.ResponseType
import microblog.client.infrastructure.Success
import microblog.client.models.Export
import microblog.client.models.Message
import microblog.client.models.NewMessage
import microblog.client.models.NewPost
import microblog.client.models.NewSession
import microblog.client.models.NewUser
import microblog.client.models.UserNotification
import microblog.client.models.NotificationList
import microblog.client.models.PasswordReset
import microblog.client.models.PasswordResetRequest
import microblog.client.models.Post
import microblog.client.models.PostUpdate
import microblog.client.models.RefreshRequest
import microblog.client.models.User
import microblog.client.models.UserUpdate
import okhttp3.OkHttpClient
import okio.Buffer
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.MethodOrderer
import org.junit.jupiter.api.Order
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.TestMethodOrder
import org.junit.jupiter.api.assertThrows
import org.yaml.snakeyaml.LoaderOptions
import org.yaml.snakeyaml.Yaml

/**
 * The SDK against the real server (embedded PostgreSQL, a free port, a fresh data folder):
 * the flow an Android app goes through, one step per test, in order. The last step fails
 * when an operation of openapi.yaml was called by no step, or when any request carried
 * the text `null` for a value it should have left out.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation::class)
class SdkFlowIT {
    private val root = File(System.getProperty("microblog.root") ?: "../..").canonicalFile
    private lateinit var server: Process
    private lateinit var dataDir: File
    private lateinit var baseUrl: String

    /** Every request the SDK sent, as it went on the wire. */
    private val sent: MutableList<okhttp3.Request> = Collections.synchronizedList(mutableListOf())
    private val http = OkHttpClient.Builder()
        .addNetworkInterceptor { chain -> sent.add(chain.request()); chain.proceed(chain.request()) }
        .build()

    /** The app's session: every API object reads the token from here on each call. */
    @Volatile private var token: String? = null

    private fun <T : ApiClient> T.withSession(): T = apply { accessTokenProvider = { token } }
    private lateinit var api: DiscoveryApi
    private lateinit var operations: OperationsApi
    private lateinit var users: UsersApi
    private lateinit var follows: FollowsApi
    private lateinit var posts: PostsApi
    private lateinit var tokens: TokensApi
    private lateinit var exports: ExportsApi
    private lateinit var messages: MessagesApi
    private lateinit var blocks: BlocksApi
    private lateinit var notifications: NotificationsApi

    private val password = "correct horse battery staple"
    private lateinit var susan: User
    private lateinit var david: User
    private val others = mutableListOf<User>()
    private lateinit var keyedPost: Post

    @BeforeAll
    fun startServer() {
        val main = File(root, "dist/src/main.js")
        check(main.isFile) { "no $main: build the server first (npm run build)" }
        val port = ServerSocket(0).use { it.localPort }
        dataDir = Files.createTempDirectory("microblog-kotlin-sdk").toFile()
        // Reachable by the postgres user that the embedded PostgreSQL runs as under root.
        dataDir.setReadable(true, false)
        dataDir.setExecutable(true, false)
        // Its own process group (setsid), so that SIGINT reaches the database it starts too.
        val builder = ProcessBuilder("setsid", "node", main.path)
            .directory(root)
            .redirectErrorStream(true)
            .redirectOutput(File(dataDir, "server.log"))
        builder.environment().apply {
            remove("DATABASE_URL")
            put("PORT", port.toString())
            put("HOST", "127.0.0.1")
            put("EMBEDDED_PG_DATA_DIR", File(dataDir, "pg").path)
            put("RESPONSE_VALIDATION", "true")
            // Info: without SMTP_URL the server writes each mail there, where the reset step reads its token.
            put("LOG_LEVEL", "info")
            remove("SMTP_URL")
        }
        server = builder.start()
        baseUrl = "http://127.0.0.1:$port"

        api = DiscoveryApi(baseUrl, http).withSession()
        operations = OperationsApi(baseUrl, http)
        users = UsersApi(baseUrl, http).withSession()
        follows = FollowsApi(baseUrl, http).withSession()
        posts = PostsApi(baseUrl, http).withSession()
        tokens = TokensApi(baseUrl, http).withSession()
        exports = ExportsApi(baseUrl, http).withSession()
        messages = MessagesApi(baseUrl, http).withSession()
        blocks = BlocksApi(baseUrl, http).withSession()
        notifications = NotificationsApi(baseUrl, http).withSession()

        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90)
        while (true) {
            check(server.isAlive) { "the server exited:\n${File(dataDir, "server.log").readText()}" }
            val ready = runCatching { runBlocking { operations.getReadiness() } }
            if (ready.isSuccess) break
            check(System.nanoTime() < deadline) { "the server was not ready in 90 s:\n${File(dataDir, "server.log").readText()}" }
            Thread.sleep(250)
        }
    }

    @AfterAll
    fun stopServer() {
        if (!::server.isInitialized) return
        ProcessBuilder("kill", "-INT", "--", "-${server.pid()}").inheritIO().start().waitFor()
        if (!server.waitFor(30, TimeUnit.SECONDS)) server.destroyForcibly()
        dataDir.deleteRecursively()
    }

    @Test @Order(1)
    fun `the entry point and the probes answer without a token`() = runBlocking {
        val entry = api.getApi()
        assertEquals("/api/users", entry.links.users)
        assertEquals("ok", operations.getHealth().status.value)
        assertEquals("ready", operations.getReadiness().status.value)
    }

    @Test @Order(2)
    fun `register sends no null for omitted optionals, and a key retry replays the first answer`() = runBlocking {
        val key = UUID.randomUUID().toString()
        val body = NewUser(username = "susan", email = "susan@example.com", password = password)
        val first = users.createUserWithHttpInfo(body, key)
        assertEquals(201, first.statusCode)
        susan = (first as Success<*>).data as User
        assertNull(susan.aboutMe)
        assertEquals("/api/users/${susan.id}", first.header("Location"))
        assertNotNull(first.header("ETag"))

        val retry = users.createUserWithHttpInfo(body, key)
        assertEquals(201, retry.statusCode)
        assertEquals("true", retry.header("Idempotent-Replayed"))
        assertEquals(susan.id, ((retry as Success<*>).data as User).id)

        val registration = sent.last { it.method == "POST" && it.url.encodedPath == "/api/users" }
        assertEquals("""{"username":"susan","email":"susan@example.com","password":"$password"}""", bodyOf(registration))
    }

    @Test @Order(3)
    fun `two different registrations under one Idempotency-Key are both registered`() = runBlocking {
        val shared = UUID.randomUUID().toString()
        david = users.createUser(NewUser("david", "david@example.com", "another long password", "Hi, I am David"), shared)
        val other = users.createUser(NewUser("mary", "mary@example.com", "yet another password"), shared)
        assertNotEquals(david.id, other.id)
        others += other
        for (name in listOf("ana", "ben")) others += users.createUser(NewUser(name, "$name@example.com", "a long password"))
    }

    @Test @Order(4)
    fun `log in with Basic set after construction, then use the token as Bearer`() = runBlocking {
        val refused = assertThrows<ClientException> { runBlocking { users.getUser(susan.id) } }
        assertEquals(401, refused.statusCode)

        tokens.userCredentialsProvider = { "susan" to password }
        val issued = tokens.createToken()
        tokens.userCredentialsProvider = { null to null }
        assertEquals(susan.id, issued.userId)
        token = issued.token

        val me = users.getUser(susan.id)
        assertEquals("susan@example.com", me.email)
        val login = sent.last { it.url.encodedPath == "/api/tokens" }
        assertTrue(login.header("Authorization")!!.startsWith("Basic "))
        assertEquals("Bearer ${issued.token}", sent.last().header("Authorization"))
    }

    @Test @Order(5)
    fun `pages of users followed to the end by _links next`() = runBlocking {
        var page = users.listUsers(perPage = 2)
        val seen = page.items.map { it.id }.toMutableList()
        var pages = 1
        while (true) {
            val next = pageRequestOf(page.links.next ?: break)
            page = users.listUsers(page = next.page, perPage = next.perPage, cursor = next.cursor)
            seen += page.items.map { it.id }
            pages++
        }
        val everyone = listOf(susan, david) + others
        assertEquals(everyone.map { it.id }.sorted(), seen.sorted())
        assertEquals(everyone.size.toLong(), page.meta.totalItems)
        assertEquals(3, pages)
    }

    @Test @Order(6)
    fun `post without a key, with one, and a retry with the same key makes no second post`() = runBlocking {
        val plain = posts.createPostWithHttpInfo(NewPost("Hello, world!"), null)
        assertEquals(201, plain.statusCode)
        assertNull(sent.last().header("Idempotency-Key"))

        val key = UUID.randomUUID().toString()
        val first = posts.createPostWithHttpInfo(NewPost("Sent over a flaky network"), key)
        assertEquals(201, first.statusCode)
        assertNull(first.header("Idempotent-Replayed"))
        keyedPost = (first as Success<*>).data as Post
        assertEquals("/api/posts/${keyedPost.id}", first.header("Location"))

        val retry = posts.createPostWithHttpInfo(NewPost("Sent over a flaky network"), key)
        assertEquals(201, retry.statusCode)
        assertEquals("true", retry.header("Idempotent-Replayed"))
        assertEquals(keyedPost, (retry as Success<*>).data)
        assertEquals(2L, users.getUser(susan.id).postCount)
        assertEquals(2L, posts.listUserPosts(susan.id).meta.totalItems)
    }

    @Test @Order(7)
    fun `follow answers 204 without throwing, and the follow is checked 204 or 404`() = runBlocking {
        follows.followUser(susan.id, david.id)
        assertEquals(204, follows.followUserWithHttpInfo(susan.id, david.id).statusCode)
        assertEquals(204, follows.getFollowWithHttpInfo(susan.id, david.id).statusCode)
        val notFollowing = assertThrows<ClientException> { runBlocking { follows.getFollow(david.id, susan.id) } }
        assertEquals(404, notFollowing.statusCode)
        assertEquals("Not Found", notFollowing.error?.error)

        assertEquals(listOf(david.id), follows.listFollowed(susan.id).items.map { it.id })
        assertEquals(listOf(susan.id), follows.listFollowers(david.id).items.map { it.id })
        assertTrue(posts.getFeed(susan.id).items.any { it.id == keyedPost.id })
        assertTrue(posts.listPosts(perPage = 100).items.any { it.id == keyedPost.id })

        follows.unfollowUser(susan.id, david.id)
        assertEquals(404, assertThrows<ClientException> { runBlocking { follows.getFollow(susan.id, david.id) } }.statusCode)
    }

    @Test @Order(8)
    fun `pull to refresh - _links newer of the feed, followed until empty, brings exactly the new posts, newest first`() = runBlocking {
        follows.followUser(susan.id, david.id)
        val top = posts.getFeed(susan.id, page = 1, perPage = 2)
        assertEquals(2, top.items.size)

        val davidsTokens = TokensApi(baseUrl, http).apply { userCredentialsProvider = { "david" to "another long password" } }
        val davidsSession = davidsTokens.createToken().token
        val davidsPosts = PostsApi(baseUrl, http).apply { accessTokenProvider = { davidsSession } }
        val arrived = listOf(davidsPosts, posts, davidsPosts).mapIndexed { n, author -> author.createPost(NewPost("Newer ${n + 1}")).id }

        val pulled = mutableListOf<Long>()
        var newer = top.links.newer
        var pulls = 0
        while (true) {
            check(pulls < 10) { "the newer pages did not end: $pulled" }
            val link = pageRequestOf(checkNotNull(newer) { "a timeline page has a newer link" })
            assertNotNull(link.cursor)
            val page = posts.getFeed(susan.id, page = link.page, perPage = link.perPage, cursor = link.cursor)
            pulls++
            if (page.items.isEmpty()) break
            assertTrue(page.items.size <= 2)
            pulled.addAll(0, page.items.map { it.id }) // each page lies above the last
            newer = page.links.newer
        }
        assertEquals(arrived.reversed(), pulled)
        assertEquals(3, pulls)

        // Search: posts by words (relevance, then newest first), with no newer link; users by username prefix.
        val found = posts.listPosts(q = "NEWER", perPage = 10)
        assertEquals(arrived.reversed(), found.items.map { it.id })
        assertEquals(3L, found.meta.totalItems)
        assertNull(found.links.newer)
        assertEquals(david.id, users.listUsers(q = "davi").items.first().id)

        follows.unfollowUser(susan.id, david.id)
    }

    @Test @Order(8)
    fun `a private message is sent, counted unread until read, listed and read by id, and a block refuses the next with 403`() = runBlocking {
        val davidsTokens = TokensApi(baseUrl, http).apply { userCredentialsProvider = { "david" to "another long password" } }
        val davidsSession = davidsTokens.createToken().token
        val davidsMessages = MessagesApi(baseUrl, http).apply { accessTokenProvider = { davidsSession } }
        val sentMessage = davidsMessages.sendMessageWithHttpInfo(susan.id, NewMessage("Lunch at noon?"), null)
        assertEquals(201, sentMessage.statusCode)
        val message = (sentMessage as Success<*>).data as Message
        assertEquals("/api/messages/${message.id}", sentMessage.header("Location"))
        assertEquals(1L, users.getUser(susan.id).unreadMessageCount)
        assertEquals(message.id, messages.listMessages().items.first().id)
        assertEquals(0L, users.getUser(susan.id).unreadMessageCount)
        assertEquals(message.id, davidsMessages.listSentMessages().items.first().id)
        assertEquals("Lunch at noon?", messages.getMessage(message.id).body)

        blocks.blockUser(susan.id, david.id)
        assertEquals(204, blocks.getBlockWithHttpInfo(susan.id, david.id).statusCode)
        assertEquals(listOf(david.id), blocks.listBlocked(susan.id).items.map { it.id })
        val refused = assertThrows<ClientException> { runBlocking { davidsMessages.sendMessage(susan.id, NewMessage("Hello?")) } }
        assertEquals(403, refused.statusCode)
        blocks.unblockUser(susan.id, david.id)
        assertEquals(404, assertThrows<ClientException> { runBlocking { blocks.getBlock(susan.id, david.id) } }.statusCode)
    }

    @Test @Order(9)
    fun `notifications are listed, polled with since and read from the stream, whole with a short timeout`() = runBlocking {
        val davidsTokens = TokensApi(baseUrl, http).apply { userCredentialsProvider = { "david" to "another long password" } }
        val davidsSession = davidsTokens.createToken().token
        MessagesApi(baseUrl, http).apply { accessTokenProvider = { davidsSession } }.sendMessage(susan.id, NewMessage("Are you there?"))

        val listed = notifications.listNotificationsWithHttpInfo(null, null)
        val list = (listed as Success<*>).data as NotificationList
        val unread = list.data.single { it.name == UserNotification.Name.unread_message_count }
        assertEquals(1L, unread.data)
        assertEquals("/api/notifications/stream", list.links.stream)
        val newest = list.data.last() // oldest first
        assertEquals(emptyList<UserNotification>(), notifications.listNotifications(since = newest.timestamp).data)
        assertEquals(304, notifications.listNotificationsWithHttpInfo(null, listed.header("ETag")).statusCode)

        // The generated call reads the whole answer, which the server ends after `timeout` seconds.
        val stream = notifications.streamNotifications(timeout = 1)
        assertTrue(stream.startsWith("retry: ")) { stream }
        assertTrue(stream.contains("id: ${unread.id}\n")) { stream }
        assertEquals(list.data, eventsOf(stream))
        assertEquals("text/event-stream, application/json", sent.last().header("Accept"))
        val resumed = notifications.streamNotifications(lastEventID = newest.id.toString(), timeout = 1)
        assertEquals(emptyList<UserNotification>(), eventsOf(resumed))

        // Reading the messages sets the count back to 0: a change since the newest.
        messages.listMessages()
        val read = notifications.listNotifications(since = newest.timestamp).data.single()
        assertEquals(UserNotification.Name.unread_message_count to 0L, read.name to read.data)
    }

    /** The notifications of a text/event-stream: each event's `data:` line, parsed; its `id:` its id. */
    private fun eventsOf(stream: String): List<UserNotification> =
        stream.split(Regex("\r\n\r\n|\n\n|\r\r")).mapNotNull { block ->
            val lines = block.lines()
            val data = lines.firstOrNull { it.startsWith("data:") }?.removePrefix("data:")?.trim() ?: return@mapNotNull null
            val event = Serializer.kotlinxSerializationJson.decodeFromString(UserNotification.serializer(), data)
            assertEquals("id: ${event.id}", lines.first { it.startsWith("id:") })
            event
        }

    @Test @Order(10)
    fun `a conditional GET with the ETag is answered 304`() = runBlocking {
        val first = users.getUserWithHttpInfo(susan.id, null)
        val etag = first.header("ETag")
        assertNotNull(etag)
        val again = users.getUserWithHttpInfo(susan.id, etag)
        assertEquals(ResponseType.Redirection, again.responseType)
        assertEquals(304, (again as Redirection<*>).statusCode)
        assertEquals(etag, again.header("ETag"))

        val postTag = posts.getPostWithHttpInfo(keyedPost.id, null).header("ETag")
        assertEquals(304, posts.getPostWithHttpInfo(keyedPost.id, postTag).statusCode)
    }

    @Test @Order(11)
    fun `update with If-Match the ETag read, and a stale one is a typed 412`() = runBlocking {
        val read = users.getUserWithHttpInfo(susan.id, null)
        val etag = read.header("ETag")!!
        val changed = users.updateUserWithHttpInfo(susan.id, UserUpdate(aboutMe = "Hi, I am Susan"), etag)
        assertEquals(200, changed.statusCode)
        assertEquals("Hi, I am Susan", ((changed as Success<*>).data as User).aboutMe)
        assertEquals("""{"about_me":"Hi, I am Susan"}""", bodyOf(sent.last()))
        assertNotEquals(etag, changed.header("ETag"))

        val stale = assertThrows<ClientException> {
            runBlocking { users.updateUser(susan.id, UserUpdate(aboutMe = "Lost update"), etag) }
        }
        assertEquals(412, stale.statusCode)
        assertEquals("Precondition Failed", stale.error?.error)
        assertEquals("Hi, I am Susan", users.getUser(susan.id).aboutMe)

        val postTag = posts.getPostWithHttpInfo(keyedPost.id, null).header("ETag")!!
        keyedPost = posts.updatePost(keyedPost.id, PostUpdate(body = "Edited"), postTag)
        assertEquals("Edited", keyedPost.body)
        assertEquals(412, assertThrows<ClientException> {
            runBlocking { posts.updatePost(keyedPost.id, PostUpdate(body = "Again"), postTag) }
        }.statusCode)
    }

    @Test @Order(12)
    fun `delete answers 204 without throwing, and the post is then 404`() = runBlocking {
        val etag = posts.getPostWithHttpInfo(keyedPost.id, null).header("ETag")!!
        posts.deletePost(keyedPost.id, etag)
        val gone = assertThrows<ClientException> { runBlocking { posts.getPost(keyedPost.id) } }
        assertEquals(404, gone.statusCode)
    }

    @Test @Order(13)
    fun `a second device logs in named, refreshes, is listed and read, and is logged out from this one`() = runBlocking {
        tokens.userCredentialsProvider = { "susan" to password }
        val phone = tokens.createToken(newSession = NewSession(device = "Susan's Android"))
        tokens.userCredentialsProvider = { null to null }
        val next = tokens.refreshToken(RefreshRequest(refreshToken = phone.refreshToken))
        assertEquals(phone.sessionId, next.sessionId)
        assertNotEquals(phone.token, next.token)
        assertNotEquals(phone.refreshToken, next.refreshToken)
        // A retry after a lost answer, within the grace window: the same pair again.
        assertEquals(next, tokens.refreshToken(RefreshRequest(refreshToken = phone.refreshToken)))

        val sessions = tokens.listSessions()
        val listed = sessions.items.single { it.id == phone.sessionId }
        assertEquals("Susan's Android", listed.device)
        assertEquals(false, listed.current)
        assertEquals(1, sessions.items.count { it.current })

        // The listed session's self link, followed: the same session, not the current one here.
        val one = tokens.getSession(phone.sessionId)
        assertEquals(listed, one)
        assertEquals(false, one.current)

        tokens.endSession(phone.sessionId)
        val refused = assertThrows<ClientException> { runBlocking { tokens.refreshToken(RefreshRequest(refreshToken = next.refreshToken)) } }
        assertEquals(401, refused.statusCode)
        assertEquals("Unauthorized", refused.error?.error)
        val gone = assertThrows<ClientException> { runBlocking { tokens.endSession(phone.sessionId) } }
        assertEquals(404, gone.statusCode)
        val unseen = assertThrows<ClientException> { runBlocking { tokens.getSession(phone.sessionId) } }
        assertEquals(404, unseen.statusCode)
    }

    @Test @Order(14)
    fun `export the posts of susan, 202 with Location, polled until done, and the file holds them`() = runBlocking {
        val asked = exports.createExportWithHttpInfo(susan.id)
        assertEquals(202, asked.statusCode)
        val requested = (asked as Success<*>).data as Export
        assertEquals("/api/exports/${requested.id}", asked.header("Location"))
        var export = requested
        // Polled as an app would, a moment apart, for at most 10 seconds.
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10)
        while (export.status.value != "done") {
            assertNotEquals("failed", export.status.value)
            check(System.nanoTime() < deadline) { "the export was not done in 10 s: $export" }
            Thread.sleep(50)
            export = exports.getExport(requested.id)
        }
        assertEquals(100, export.progress)
        assertEquals("/api/exports/${requested.id}/file", export.links.file)
        val file = exports.getExportFile(requested.id)
        assertEquals(export.postCount, file.size.toLong())
        assertEquals(posts.listUserPosts(susan.id, perPage = 100).items, file)
    }

    @Test @Order(16)
    fun `log out answers 204, and the next call is a typed 401 with status and error body`() = runBlocking {
        assertEquals(204, tokens.revokeTokenWithHttpInfo().statusCode)
        val refused = assertThrows<ClientException> { runBlocking { users.getUser(susan.id) } }
        assertEquals(401, refused.statusCode)
        val error = refused.error
        assertNotNull(error)
        assertEquals("Unauthorized", error!!.error)
        assertTrue(error.message.isNotBlank())
    }

    @Test @Order(15)
    fun `a password reset mails a token that sets a new password and ends every session`() = runBlocking {
        val davidsTokens = TokensApi(baseUrl, http).apply { userCredentialsProvider = { "david" to "another long password" } }
        val oldSession = davidsTokens.createToken().token
        val accepted = tokens.requestPasswordResetWithHttpInfo(PasswordResetRequest("david@example.com"))
        assertEquals(202, accepted.statusCode)

        val resetToken = resetTokenMailedTo("david@example.com")
        assertEquals(204, tokens.resetPasswordWithHttpInfo(PasswordReset(resetToken, "david's new password")).statusCode)
        val used = assertThrows<ClientException> { runBlocking { tokens.resetPassword(PasswordReset(resetToken, "yet another password")) } }
        assertEquals(400, used.statusCode)

        val refused = assertThrows<ClientException> {
            runBlocking { UsersApi(baseUrl, http).apply { accessTokenProvider = { oldSession } }.getUser(david.id) }
        }
        assertEquals(401, refused.statusCode)
        davidsTokens.userCredentialsProvider = { "david" to "david's new password" }
        assertEquals(david.id, davidsTokens.createToken().userId)
    }

    /**
     * The reset token in the last mail to `address`: the server runs without SMTP_URL, so
     * its mails are in its log (JSON lines, the mail's text with its newlines escaped).
     * Polled: the mail is sent after the answer.
     */
    private fun resetTokenMailedTo(address: String): String {
        val log = File(dataDir, "server.log")
        val token = Regex("""\\n([A-Za-z0-9_-]{43})\\n""")
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10)
        while (true) {
            val mail = log.readLines().lastOrNull { it.contains("\"mail\":{") && it.contains("\"to\":\"$address\"") }
            val found = mail?.let { token.find(it)?.groupValues?.get(1) }
            if (found != null) return found
            check(System.nanoTime() < deadline) { "no reset mail to $address in the server's log:\n${log.readText()}" }
            Thread.sleep(50)
        }
    }

    @Test @Order(17)
    fun `every operation of the contract was called, and no request sent the text null`() {
        val called = sent.mapNotNull { request -> operationOf(request) }.toSet()
        val missing = contractOperations.map { it.id }.toSet() - called
        assertTrue(missing.isEmpty()) { "operations of openapi.yaml that no step calls: ${missing.sorted()}" }

        val nulls = sent.flatMap { request ->
            request.headers.filter { it.second == "null" }.map { "${request.method} ${request.url}: header ${it.first}" } +
                request.url.queryParameterNames.filter { request.url.queryParameter(it) == "null" }
                    .map { "${request.method} ${request.url}: query $it" }
        }
        assertTrue(nulls.isEmpty()) { "requests that sent the text null: $nulls" }
    }

    private data class Operation(val id: String, val method: String, val path: Regex)

    /** The operations of openapi.yaml, each with its method and path template as a pattern. */
    private val contractOperations: List<Operation> by lazy {
        val yaml = Yaml(LoaderOptions().apply { codePointLimit = 16 * 1024 * 1024 })
        @Suppress("UNCHECKED_CAST")
        val doc = File(root, "openapi.yaml").reader().use { yaml.load<Map<String, Any>>(it) }
        @Suppress("UNCHECKED_CAST")
        val paths = doc["paths"] as Map<String, Map<String, Any>>
        paths.flatMap { (template, item) ->
            val pattern = Regex(template.split(Regex("\\{[^}]+}")).joinToString("[^/]+") { Regex.escape(it) })
            item.filterKeys { it in setOf("get", "put", "post", "delete", "patch", "head", "options") }
                .map { (method, op) ->
                    @Suppress("UNCHECKED_CAST")
                    Operation((op as Map<String, Any>)["operationId"] as String, method.uppercase(), pattern)
                }
        }
    }

    private fun operationOf(request: okhttp3.Request): String? =
        contractOperations.firstOrNull { it.method == request.method && it.path.matches(request.url.encodedPath) }?.id

    private fun bodyOf(request: okhttp3.Request): String =
        Buffer().also { request.body?.writeTo(it) }.readUtf8()
}
