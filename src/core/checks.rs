//! Checks on a suggestion before it may be spoken, whoever wrote it.

use super::request::CoachRequest;

/// Words that can only be usernames (`@name`, or three or more letters mixed
/// with digits such as `User789`) must belong to someone in the room or to the
/// broadcaster: a suggestion about a made-up viewer is worse than none.
pub fn names_are_known(content: &str, req: &CoachRequest) -> bool {
    let known: Vec<String> = req
        .context
        .events()
        .iter()
        .filter_map(|e| e.user.as_deref())
        .chain(std::iter::once(req.broadcaster.as_str()))
        .chain(req.broadcaster.as_str().split_whitespace())
        .map(str::to_lowercase)
        .collect();
    let room_text: String = req
        .context
        .events()
        .iter()
        .map(|e| e.text.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    content.split_whitespace().all(|word| {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '@');
        let mention = word.starts_with('@');
        let name = word.trim_start_matches('@').to_lowercase();
        // At least three letters, so "3D", "4K" or "mp3" are not taken for names.
        let mixed = name.chars().filter(|c| c.is_alphabetic()).count() >= 3
            && name.chars().any(|c| c.is_ascii_digit());
        if !(mention || mixed) || name.is_empty() {
            return true;
        }
        known.contains(&name) || room_text.contains(&name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_about_people_not_in_the_room_are_refused() {
        let req =
            CoachRequest::from_json(br#"{"broadcaster": "Luna", "context": "Tip: Max tipped 40 tokens"}"#)
                .unwrap();
        assert!(names_are_known("Thanks Max for the 40 tokens!", &req));
        assert!(names_are_known("Wave at Luna's camera, 3D style", &req));
        assert!(!names_are_known("Thanks User789 for the tip!", &req));
        assert!(!names_are_known("Say hi to @Ghost", &req));
        let dj = CoachRequest::from_json(br#"{"broadcaster": "DJ Max99", "context": []}"#).unwrap();
        assert!(names_are_known("Max99, say hi to chat!", &dj));
    }
}
