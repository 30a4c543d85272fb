@testable import BackstopRemote
import BackstopCore
import Foundation
import XCTest

/// Error answers as S3 gives them, in words: what failed, why, and what to do.
final class S3ErrorTests: XCTestCase {
    let client = S3Client(endpoint: .aws(region: "us-east-1"), bucket: "backups",
                          credentials: S3Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret", source: "AWS_ACCESS_KEY_ID"))

    func error(_ status: Int, headers: [String: String] = [:], _ xml: String) -> (String, Remedy?) {
        let failure = client.failure(S3Response(status: status, headers: headers, body: Data(xml.utf8)), key: "app/x.json",
                                     doing: "reading s3://backups/app/x.json", attempts: 1)
        return (failure.description, failure.remedy)
    }

    /// A bucket in another region: AWS answers 301 (the region in a header) or, to a request signed for
    /// the wrong region, 400 AuthorizationHeaderMalformed naming the region it expected.
    func testABucketInAnotherRegionIsNamedWithItsRegion() {
        let moved = error(301, headers: ["x-amz-bucket-region": "eu-west-1"],
                          "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message></Error>")
        XCTAssertEqual(moved.0, "reading s3://backups/app/x.json failed: the bucket backups is in the region eu-west-1, not us-east-1, which requests are signed for (PermanentRedirect)")
        XCTAssertEqual(moved.1, .setRegion("eu-west-1"))
        let malformed = error(400, "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region 'us-east-1' is wrong; expecting 'ap-south-1'</Message><Region>ap-south-1</Region></Error>")
        XCTAssertEqual(malformed.1, .setRegion("ap-south-1"))
        // A region that is not a region name is not repeated.
        let odd = error(301, headers: ["x-amz-bucket-region": "eu-west-1\u{1b}[2J"], "<Error><Code>PermanentRedirect</Code></Error>")
        XCTAssertEqual(odd.0, "reading s3://backups/app/x.json failed: the bucket backups is in another region, not us-east-1, which requests are signed for (PermanentRedirect)")
        XCTAssertEqual(odd.1, .setRegion(nil))
        // AuthorizationHeaderMalformed for another reason is not about the region.
        XCTAssertNotEqual(error(400, "<Error><Code>AuthorizationHeaderMalformed</Code><Message>bad date</Message></Error>").1, .setRegion(nil))
    }
}
